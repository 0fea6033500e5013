"""Issue 25's failures, measured: is a difference the model's own float noise?

    python benchmarks/byom_diagnose.py simplifier MODEL_DIR   # onnxsim's change vs ORT noise
    python benchmarks/byom_diagnose.py kernels MODEL_DIR [ONNX]  # Paddle plain vs oneDNN
    python benchmarks/byom_diagnose.py build ARCH OUT [--conditioning train-noise] [--seed N]

MODEL_DIR is a Paddle export (``inference.json`` + ``inference.pdiparams``), e.g. one of
``benchmarks/byom_matrix.py``'s folders. Every figure is the project's tolerance rule
(``p2o.core.tolerance.min_tolerance``: the smallest tolerance at which B passes against A).

``simplifier``: paddle2onnx's graph (markers stripped, as convert does) on convert's own
equivalence feed; ONNX Runtime with all graph optimizations vs none, 2 threads vs 1, on the
unsimplified graph (the graph's own float noise), against onnxsim's change (what the proof
measures: simplified vs unsimplified, both fully optimized).
``kernels``: Paddle Inference with oneDNN vs its plain kernels on verify's 8 photographs (the
reference's own noise); with ONNX, also ONNX Runtime against both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.support


def _ort(model: Any, feed: dict[str, np.ndarray], level: str = "all", threads: int = 2) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    data = model if isinstance(model, bytes) else model.SerializeToString()
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, feed)[0])


def _tol(a: np.ndarray, b: np.ndarray) -> str:
    from p2o.core.tolerance import min_tolerance

    t = min_tolerance(a, b)
    mx = float(np.abs(a).max())
    return f"min tolerance {t:.3g}  (max abs {float(np.abs(a - b).max()):.3g}, max |ref| {mx:.4g})"


def simplifier(model_dir: Path) -> int:
    import onnx

    from p2o.converter import boundary, paddle2onnx, pipeline, simplify
    from p2o.converter.source import open_paddle_model

    with open_paddle_model(str(model_dir)) as src:
        result = paddle2onnx.convert(src.model_file, src.params_file, 17)
        shape, pp = src.input_shape, src.preprocess
    model = onnx.load_from_string(result.onnx_bytes)
    boundary.strip(model)
    feed = {model.graph.input[0].name: pipeline._feed(None, shape, pp)}
    print(f"feed: {feed[next(iter(feed))].shape} (convert's equivalence feed)")
    base = _ort(model, feed)
    rows = [
        ("unsimplified: ORT optimizations none vs all", _ort(model, feed, "none")),
        ("unsimplified: ORT 1 thread vs 2 threads", _ort(model, feed, threads=1)),
    ]
    simplified = simplify.simplify(model, "onnxsim")
    rows.append(("onnxsim: simplified vs unsimplified (ORT all)", _ort(simplified, feed)))
    rows.append(
        ("onnxsim: simplified, ORT none vs unsimplified all", _ort(simplified, feed, "none"))
    )
    for label, out in rows:
        print(f"{label:52} {_tol(base, out)}")
    print(f"the proof's fixed tolerance: {simplify.TOLERANCE}")
    return 0


def kernels(model_dir: Path, onnx_file: Path | None) -> int:
    from p2o.converter.source import open_paddle_model
    from p2o.runtimes.paddle import PaddlePlainRunner, PaddleRunner
    from p2o.zoo.inputs import sample_batch

    with open_paddle_model(str(model_dir)) as src:
        images = sample_batch(None, src.preprocess)
        plain = next(iter(PaddlePlainRunner(str(model_dir), threads=2).run(images).values()))
        onednn = next(iter(PaddleRunner(str(model_dir), threads=2).run(images).values()))
    print(f"inputs: {images.shape} (verify's photographs)")
    print(f"{'Paddle oneDNN vs plain (reference noise)':52} {_tol(plain, onednn)}")
    if onnx_file is not None:
        feed = {"x": images}
        import onnx

        name = onnx.load(str(onnx_file), load_external_data=False).graph.input[0].name
        ort_out = _ort(onnx_file.read_bytes(), {name: feed["x"]})
        print(f"{'ONNX Runtime vs Paddle plain (verify reference)':52} {_tol(plain, ort_out)}")
        print(f"{'ONNX Runtime vs Paddle oneDNN':52} {_tol(onednn, ort_out)}")
    return 0


def build(arch: str, out: Path, conditioning: str, seed: int = 0) -> int:
    """``conditioning``: ``photos`` / ``noise`` (the matrix's synthesis), or ``train-noise``:
    how issue 25 first built its ten, PaddleClas's own initialisers (``paddle.seed``) and one
    train-mode pass (BatchNorm momentum as PaddleClas sets it) over 8 seeded noise images."""
    from tests.support import paddleclas_archs as pa

    wheel = pa.find_wheel()
    if wheel is None:
        print(pa.missing_reason(), file=sys.stderr)
        return 2
    cache_dir = out.parent / ".paddleclas"
    if conditioning != "train-noise":
        pa.export(arch, out, wheel, cache_dir, seed=seed, conditioning=conditioning)
        print(out)
        return 0
    import paddle

    from p2o.converter.export import export_static
    from p2o.zoo.inputs import random_batch

    make = pa.builder(arch, wheel, cache_dir)
    paddle.seed(seed)
    with paddle.utils.unique_name.guard():
        net = make(class_num=1000)
    net.train()
    with paddle.no_grad():
        net(paddle.to_tensor(random_batch(8, seed=seed)))
    net.eval()
    export_static(net, out, pa.INPUT_SHAPE)
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simplifier")
    s.add_argument("model_dir", type=Path)
    k = sub.add_parser("kernels")
    k.add_argument("model_dir", type=Path)
    k.add_argument("onnx", type=Path, nargs="?")
    b = sub.add_parser("build")
    b.add_argument("arch")
    b.add_argument("out", type=Path)
    b.add_argument("--conditioning", choices=("photos", "noise", "train-noise"), default="photos")
    b.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "simplifier":
        return simplifier(args.model_dir)
    if args.cmd == "kernels":
        return kernels(args.model_dir, args.onnx)
    return build(args.arch, args.out, args.conditioning, args.seed)


if __name__ == "__main__":
    sys.exit(main())
