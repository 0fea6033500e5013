"""How long does ``p2o verify --model RedNet26`` take the first time, and when repeated?

Runs the command as a user would (a subprocess, the CLI), in a fresh work directory and a
fresh p2o cache: once ("first": converts, synthesizes weights, computes Paddle's reference),
then again ("repeat": the ONNX file, the synthetic weights and the reference come from the
work directory and the cache). With ``--baseline SRC`` (the ``src`` folder of another
checkout, e.g. ``git archive e051b5f src | tar -x -C /tmp/base``) the same two runs are made
with that tree too, interleaved (base first, this first, base repeat, this repeat), so the
figures share one machine state. Prints one row per tree and the ratios side by side.

Targets: repeat ≤ 15 % of first (this tree); first ≤ 60 % of the baseline's first.

    python benchmarks/repeat_verify.py [--model RedNet26] [--baseline SRC] [--json FILE]
        [-- extra verify arguments]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"


def run_verify(src: Path, model: str, work: Path, cache: Path, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), P2O_CACHE_DIR=str(cache), P2O_PROGRESS="off")
    cmd = [sys.executable, "-m", "p2o.cli", "verify", "--model", model, "--work-dir", str(work)]
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr[-2000:])
    return {"seconds": round(seconds, 1), "exit": proc.returncode}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="RedNet26")
    ap.add_argument("--baseline", metavar="SRC", help="src folder of the tree to compare with")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("extra", nargs="*", help="more arguments for p2o verify (after --)")
    args = ap.parse_args()

    trees = {"this": HERE}
    if args.baseline:
        trees = {"baseline": Path(args.baseline).resolve(), **trees}
    figures: dict[str, dict[str, dict]] = {name: {} for name in trees}
    with tempfile.TemporaryDirectory(prefix="p2o-repeat-") as tmp:
        for phase in ("first", "repeat"):
            for name, src in trees.items():
                work, cache = Path(tmp) / name / "work", Path(tmp) / name / "cache"
                work.mkdir(parents=True, exist_ok=True)
                r = run_verify(src, args.model, work, cache, args.extra)
                figures[name][phase] = r
                print(f"{name:9} {phase:7} {r['seconds']:7.1f} s  exit {r['exit']}", flush=True)

    print(f"\np2o verify --model {args.model}; {cpu_name()}, {os.cpu_count()} CPUs")
    print(f"{'tree':9} {'first':>9} {'repeat':>9} {'repeat/first':>13}")
    for name, f in figures.items():
        first, repeat = f["first"]["seconds"], f["repeat"]["seconds"]
        print(f"{name:9} {first:8.1f}s {repeat:8.1f}s {repeat / first:12.0%}")
    this = figures["this"]
    ratio = this["repeat"]["seconds"] / this["first"]["seconds"]
    print(f"repeat / first (this tree): {ratio:.0%}  (target <= 15%)")
    if "baseline" in figures:
        first_ratio = this["first"]["seconds"] / figures["baseline"]["first"]["seconds"]
        print(f"first, this / baseline:     {first_ratio:.0%}  (target <= 60%)")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "figures": figures}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
