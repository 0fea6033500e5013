"""RedNet on ONNX Runtime CPU: p2o's Involution op vs paddle2onnx's stock unfold lowering.

For each RedNet: convert twice (``--involution function`` and ``--involution unfold``, both
simplified with onnxsim), check that outputs agree (max|a-b| / max|b| <= 1e-5 on the
sample photographs), then time both at bs=1 with 2 intra-op threads, interleaved
(A B A B ...), and print the medians and the speed-up. Target: >= 3x on RedNet50.

    python benchmarks/rednet_involution.py [NAME ...] [--iters 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from p2o.converter import convert
from p2o.zoo import list_models
from p2o.zoo.inputs import sample_batch

TARGET = 3.0
AGREEMENT = 1e-5


def session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list_models("RedNet*"))
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    images = sample_batch()
    print(
        f"ONNX Runtime {ort.__version__} CPU, bs=1, {args.threads} threads, "
        f"median of {args.iters} interleaved runs"
    )
    print(f"{'model':10} {'stock ms':>9} {'p2o ms':>8} {'speed-up':>8} {'rel diff':>9}  nodes")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            fn = convert(name, out_dir=Path(tmp) / name / "function")
            un = convert(name, out_dir=Path(tmp) / name / "unfold", involution="unfold")
            a, b = session(fn.onnx_path, args.threads), session(un.onnx_path, args.threads)
            ya = np.concatenate([a.run(None, {"x": images[i : i + 1]})[0] for i in range(8)])
            yb = np.concatenate([b.run(None, {"x": images[i : i + 1]})[0] for i in range(8)])
            rel = float(np.abs(ya - yb).max() / np.abs(yb).max())
            x = images[:1]
            for _ in range(args.warmup):
                a.run(None, {"x": x})
                b.run(None, {"x": x})
            ta, tb = [], []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                a.run(None, {"x": x})
                t1 = time.perf_counter()
                b.run(None, {"x": x})
                t2 = time.perf_counter()
                ta.append(t1 - t0)
                tb.append(t2 - t1)
            ma, mb = statistics.median(ta) * 1e3, statistics.median(tb) * 1e3
            speedup = mb / ma
            n_un = un.manifest.node_counts["simplified"]
            n_fn = fn.manifest.node_counts["simplified"]
            nodes = f"{n_un} → {n_fn}"
            print(f"{name:10} {mb:9.1f} {ma:8.1f} {speedup:7.2f}x {rel:9.1e}  {nodes}", flush=True)
            ok &= rel <= AGREEMENT and (name != "RedNet50" or speedup >= TARGET)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
