"""What does Ray cost? The same release with ``--executor local --jobs 2`` and with
``--executor ray`` on a two-node Ray cluster on this machine (head + a second node, one CPU
each, both on 127.0.0.1 only). Prints both walls and their ratio (target: Ray's overhead <= 10 %),
then whether the two releases agree: same verdicts, same ``SHA256SUMS`` paths and the same
bytes of every ``model.onnx`` and ``golden.npz`` (``manifest.json`` and the reports hold stage
times, which differ between any two runs, two local ones too).

    python benchmarks/release_ray.py [--models PATTERN_OR_NAMES] [--repeat N] [--out DIR]
        [-- RELEASE_ARGS]

Each release starts with an empty cache (``P2O_CACHE_DIR``), like docs/release.md's zoo
figure. The cluster is started first (its start is printed, not counted: a cluster is standing
infrastructure) and stopped at the end. ``--repeat N`` runs N pairs in alternating order
(local-ray, ray-local, ...) and takes medians: on a shared machine one pair is noisy.
Needs ``pip install 'p2o[ray]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Ray resolves 127.0.0.1 to the machine's outward address unless told it is alone
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "resources": {"paddle": 1}}


def release(models: str, out: Path, extra: list[str], cache: Path, *args: str) -> float:
    env = {**os.environ, "P2O_CACHE_DIR": str(cache), "P2O_PROGRESS": "plain"}
    cmd = [sys.executable, "-m", "p2o.cli", "release", "--models", models, "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, *args, *extra, "-q"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"release_ray: {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall


def verdicts(dist: Path) -> dict[str, str]:
    summary = json.loads((dist / "release.json").read_text())
    return {m["model"]: m["status"] for m in summary["models"]}


def sums(dist: Path) -> dict[str, str]:
    """SHA256SUMS where it is reproducible (every path; the hash of model.onnx, golden.npz)."""
    lines = [ln.split() for ln in (dist / "SHA256SUMS").read_text().splitlines()]
    return {p: sha if p.endswith(("model.onnx", "golden.npz")) else "" for sha, p in lines}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="RegNetX_200MF,ReXNet_1_0,RegNetX_400MF,RegNetX_600MF")
    ap.add_argument(
        "--repeat", type=int, default=1, help="pairs of runs, in A-B, B-A, ... order (default 1)"
    )
    ap.add_argument("--out", help="keep the last releases here (default: a temporary folder)")
    ap.add_argument("extra", nargs="*", help="more `p2o release` options, after --")
    args = ap.parse_args()
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        sys.exit("release_ray: needs Ray: pip install 'p2o[ray]'")

    root = Path(args.out or tempfile.mkdtemp(prefix="p2o-release-ray-"))
    root.mkdir(parents=True, exist_ok=True)

    def fresh(name: str) -> Path:
        shutil.rmtree(root / name, ignore_errors=True)
        return root / name

    os.environ["P2O_CACHE_DIR"] = str(root / "cache-ray")  # the Ray workers' cache
    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    try:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        start = time.perf_counter() - t0
        for i in range(args.repeat):
            for kind in ("local", "ray") if i % 2 == 0 else ("ray", "local"):
                cache = fresh(f"cache-{kind}")
                cache.mkdir()
                how = ["--jobs", "2"]
                if kind == "ray":
                    how = ["--executor", "ray", "--ray-address", cluster.address]
                wall = release(args.models, fresh(kind), args.extra, cache, *how)
                walls[kind].append(wall)
                print(f"run {i + 1} {kind}: {wall:.1f} s", flush=True)
    finally:
        cluster.shutdown()

    local, ray = statistics.median(walls["local"]), statistics.median(walls["ray"])
    same_verdicts = verdicts(root / "local") == verdicts(root / "ray")
    same_sums = sums(root / "local") == sums(root / "ray")
    n = f" (median of {args.repeat})" if args.repeat > 1 else ""
    print(f"models: {args.models} ({len(verdicts(root / 'ray'))})")
    print(f"local --jobs 2:            {local:7.1f} s{n}")
    print(f"ray, 2 nodes x 1 CPU:      {ray:7.1f} s{n}  (cluster start {start:.1f} s, not counted)")
    print(f"ratio ray/local:           {ray / local:7.3f}  (target <= 1.10)")
    print(f"verdicts: {verdicts(root / 'ray')}")
    print(
        f"same verdicts: {same_verdicts}; "
        f"same SHA256SUMS (paths; model.onnx, golden.npz): {same_sums}"
    )
    if not args.out:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if same_verdicts and same_sums else 1


if __name__ == "__main__":
    sys.exit(main())
