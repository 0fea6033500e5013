"""Are the synthetic weights trained-like and well-conditioned? One row per zoo model.

For each model: logits std and distinct top-1 over the sample photographs, finiteness,
and the relative disagreement max|a-b|/max|b| of Paddle Inference with oneDNN (a) vs its
plain kernels (b) on the same inputs. Target: std in [1, 10], rel <= 2e-5.

    python benchmarks/conditioning.py [PATTERN_OR_NAME ...] [--seed N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np

from p2o.converter.export import export_static
from p2o.runtimes.paddle import PaddlePlainRunner, PaddleRunner
from p2o.zoo import create_model, list_models
from p2o.zoo.inputs import sample_batch

REL_TARGET = 2e-5


def measure(name: str, seed: int, images: np.ndarray) -> dict[str, object]:
    t0 = time.perf_counter()
    model = create_model(name, seed=seed)
    t_create = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        export_static(model, tmp)
        a = PaddleRunner(tmp, threads=2).run(images)
        b = PaddlePlainRunner(tmp, threads=2).run(images)
    la, lb = next(iter(a.values())), next(iter(b.values()))
    rel = float(np.abs(la - lb).max() / np.abs(lb).max())
    std = float(lb.std(axis=1).mean())
    top1 = len(set(lb.argmax(axis=1).tolist()))
    ok = bool(np.isfinite(lb).all() and 1 <= std <= 10 and top1 > 1 and rel <= REL_TARGET)
    return {
        "model": name,
        "finite": bool(np.isfinite(lb).all()),
        "logit_std": std,
        "distinct_top1": top1,
        "rel_onednn_vs_plain": rel,
        "ok": ok,
        "create_s": t_create,
        "total_s": time.perf_counter() - t0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["*"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    names = [n for pat in args.models for n in list_models(pat)]
    images = sample_batch()
    rows = []
    print(f"{'model':28} {'finite':>6} {'std':>7} {'top1s':>5} {'rel oneDNN/plain':>17} ok  s")
    for name in names:
        r = measure(name, args.seed, images)
        rows.append(r)
        print(
            f"{name:28} {r['finite']!s:>6} {r['logit_std']:7.3f} {r['distinct_top1']:>5} "
            f"{r['rel_onednn_vs_plain']:17.2e} {'yes' if r['ok'] else 'NO '} "
            f"{r['total_s']:.0f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
