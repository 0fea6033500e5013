"""RedNet on ONNX Runtime CPU: p2o's Involution op vs paddle2onnx's stock unfold lowering.

For each RedNet: convert twice (``--involution function`` with ``--involution-body BODY``,
and ``--involution unfold``; both simplified with onnxsim, same synthetic weights), check
that outputs agree (max|a-b| / max|b| <= 1e-5 on the sample photographs), then time both at
bs=1 with 2 intra-op threads, interleaved (A B A B ...), and print the medians of wall time
and of process CPU time (all threads; less sensitive to other processes taking the cores)
with the speed-ups. Target: >= 3x wall on RedNet50. The CPU (``lscpu`` model name, avx512f,
amx) is printed first: say which machine a figure came from. The sessions are set up like
p2o's ONNX Runtime runner (``runtimes/onnxruntime.py``): idle pool threads do not spin
(``--spin`` turns ONNX Runtime's default spinning back on, for comparison; on a machine
whose cores other processes take it costs p2o's many short operators most). With
``--spin`` each session's own spinning pool also takes a core from the other session's
runs; ``--shared-pool`` gives both sessions one global pool of ``--threads`` threads
(ONNX Runtime's default spinning; ``set_global_thread_pool_sizes``), as a process serving
several models does, so that the interleaved comparison is fair with spinning on.
``--runtime openvino`` times both files through p2o's OpenVINO runner instead (CPU,
``--threads`` inference threads, f32; the p2o file read with the runner's own bodies): a
report, with no target.

    python benchmarks/rednet_involution.py [NAME ...] [--iters 30] [--threads 2]
        [--spin | --shared-pool] [--involution-body cpu|gpu|openvino] [--runtime ort|openvino]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from involution_body import cpu_label  # benchmarks/ is this script's directory

from p2o.converter import ConvertOptions, convert
from p2o.zoo import list_models
from p2o.zoo.inputs import sample_batch

TARGET = 3.0
AGREEMENT = 1e-5


class P2oRunner:
    """``run(None, feed)`` like an onnxruntime session, through one of p2o's runners."""

    def __init__(self, runtime: str, path: Path, threads: int) -> None:
        from p2o.core import cache
        from p2o.runtimes import registry

        cache.set_enabled(False)  # these files are temporary: nothing for the user's cache
        self.runner = registry.create(runtime, str(path), threads=threads, precision="fp32")
        self.runner.build()

    def run(self, _: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.runner.run(feed["x"]).values())


def session(
    path: Path, threads: int, spin: bool, shared: bool, runtime: str = "ort"
) -> ort.InferenceSession | P2oRunner:
    if runtime != "ort":
        return P2oRunner(runtime, path, threads)
    opts = ort.SessionOptions()
    if shared:  # the global pool made in main(); spinning as ONNX Runtime's default
        opts.use_per_session_threads = False
    else:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def timed(
    sess: ort.InferenceSession | P2oRunner, feed: dict[str, np.ndarray]
) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one run."""
    t0, c0 = time.perf_counter(), time.process_time()
    sess.run(None, feed)
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def convert_pair(name: str, out: Path, body: str) -> tuple[Path, Path, str]:
    """p2o's and the stock export of ``name`` under ``out``: (p2o, stock, node counts)."""
    fn = convert(ConvertOptions(name, out_dir=out / name / "function", involution_body=body))
    un = convert(ConvertOptions(name, out_dir=out / name / "unfold", involution="unfold"))
    nodes = f"{un.manifest.node_counts['simplified']} → {fn.manifest.node_counts['simplified']}"
    return fn.onnx_path, un.onnx_path, nodes


def convert_all(names: list[str], out: Path, body: str, apart: bool) -> list[tuple]:
    """Every pair; in a child process when ``apart`` (a global pool must come before any
    session of this process, and the converter's proof opens sessions of its own)."""
    if not apart:
        return [convert_pair(n, out, body) for n in names]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return list(pool.map(convert_pair, names, [out] * len(names), [body] * len(names)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list_models("RedNet*"))
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--spin", action="store_true", help="session.intra_op.allow_spinning=1 (ORT's default)"
    )
    ap.add_argument(
        "--shared-pool", action="store_true", help="one global pool for both sessions, spinning on"
    )
    ap.add_argument("--involution-body", choices=["cpu", "gpu", "openvino"], default="cpu")
    ap.add_argument("--runtime", choices=["ort", "openvino"], default="ort")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = convert_all(args.models, Path(tmp), args.involution_body, args.shared_pool)
        return report(args, pairs)


def report(args: argparse.Namespace, pairs: list[tuple]) -> int:
    images = sample_batch()
    spin = "on" if args.spin else "off"
    if args.shared_pool:
        from onnxruntime.capi import _pybind_state

        _pybind_state.set_global_thread_pool_sizes(args.threads, 1)
        spin = "on, one pool shared by both sessions"
    print(cpu_label())
    if args.runtime == "openvino":
        import openvino

        engine = f"OpenVINO {openvino.__version__} CPU (p2o's runner, its own bodies)"
    else:
        engine = f"ONNX Runtime {ort.__version__} CPU, spinning {spin}"
    print(
        f"{engine}, bs=1, {args.threads} threads, p2o body {args.involution_body}, "
        f"median of {args.iters} interleaved runs"
    )
    print(
        f"{'model':10} {'stock ms':>9} {'p2o ms':>8} {'speed-up':>8} "
        f"{'stock cpu':>9} {'p2o cpu':>8} {'cpu x':>6} {'rel diff':>9}  nodes"
    )
    ok = True
    for name, (fn_path, un_path, nodes) in zip(args.models, pairs, strict=True):
        a = session(fn_path, args.threads, args.spin, args.shared_pool, args.runtime)
        b = session(un_path, args.threads, args.spin, args.shared_pool, args.runtime)
        ya = np.concatenate([a.run(None, {"x": images[i : i + 1]})[0] for i in range(8)])
        yb = np.concatenate([b.run(None, {"x": images[i : i + 1]})[0] for i in range(8)])
        rel = float(np.abs(ya - yb).max() / np.abs(yb).max())
        feed = {"x": images[:1]}
        for _ in range(args.warmup):
            a.run(None, feed)
            b.run(None, feed)
        ta, tb = [], []
        for _ in range(args.iters):
            ta.append(timed(a, feed))
            tb.append(timed(b, feed))
        (wa, ca), (wb, cb) = (
            tuple(statistics.median(v) for v in zip(*t, strict=True)) for t in (ta, tb)
        )
        speedup = wb / wa
        print(
            f"{name:10} {wb:9.1f} {wa:8.1f} {speedup:7.2f}x "
            f"{cb:9.1f} {ca:8.1f} {cb / ca:5.2f}x {rel:9.1e}  {nodes}",
            flush=True,
        )
        gated = name == "RedNet50" and args.runtime == "ort"
        ok &= rel <= AGREEMENT and (not gated or speedup >= TARGET)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
