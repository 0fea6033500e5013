"""p2o's INT8 artifact beside NNCF's, from the same fp32 ONNX, on OpenVINO (issue 22).

    /work/venv-nncf/bin/python benchmarks/nncf_compare.py --models ResNeSt50,ReXNet_1_0

Needs NNCF (``pip install 'p2o[nncf]'``, best in an environment of its own; with
``constraints.txt`` it installs beside p2o's pins without a clash). For each model:

1. p2o converts the fp32 ONNX and its INT8 artifact (``--precision int8``: accuracy-aware; when
   that exits 1 past its budget, the plain artifact is measured and labelled so);
2. NNCF quantizes the same fp32 ONNX, read by OpenVINO (RedNet's involution functions inlined
   with the OpenVINO bodies first: OpenVINO's reader does not enter them), with its defaults
   (``nncf.quantize``, 32 calibration crops: the crops p2o calibrates on) and with
   ``nncf.quantize_with_accuracy_control`` (validation: mean logit cosine against the fp32
   model on 64 calibration crops, ``max_drop`` 0.02 absolute: the int8 rule's 0.98);
3. one interleaved timing run on OpenVINO (bs=1, 2 threads, latency hint, p50 of the rounds)
   of fp32, p2o int8 and the NNCF artifacts, and the int8 acceptance metrics of each against
   the Paddle fp32 reference on verify's 64 evaluation crops (none of which either tool saw).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o.converter import ConvertOptions, convert, ops
from p2o.converter.export import export_static
from p2o.converter.precision import PrecisionOptions
from p2o.converter.precision.int8 import PRECISION
from p2o.core.agreement import judge, measure
from p2o.core.errors import CheckFailed
from p2o.parity.verify import REFERENCE
from p2o.runtimes import registry as rt
from p2o.zoo import create_model, crops, model_info
from p2o.zoo.registry import Preprocess

CALIBRATION = 32
VALIDATION = 64
EVALUATION = 64
RANKING = 16  # images NNCF ranks its quantizers on (its default, 300, takes ~hours here)


def _ov_model(path: Path, work: Path) -> Path:
    """The ONNX file OpenVINO reads: model-local functions inlined with its own bodies."""
    model = onnx.load(str(path))
    if not model.functions:
        return path
    out = work / f"{path.parent.name}-{path.stem}-ov.onnx"
    onnx.save(ops.inline(model, "openvino"), str(out))
    return out


def _nncf(fp32: Path, pp: Preprocess | None, accuracy_control: bool) -> Any:
    """NNCF's INT8 OpenVINO model of ``fp32``, calibrated on the crops p2o calibrates on."""
    import nncf  # the optional extra, only in this script
    import openvino as ov  # heavy optional engine
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    model = ov.Core().read_model(str(fp32))
    feed = model.inputs[0].get_any_name()
    calib = crops.crop_batch("calibration", CALIBRATION, pp)
    dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))], lambda x: {feed: x})
    if not accuracy_control:
        return nncf.quantize(model, dataset, subset_size=CALIBRATION)
    val = crops.crop_batch("calibration", VALIDATION, pp)
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}  # CPUs with AMX default to bf16
    reference = ov.Core().compile_model(model, "CPU", f32)
    val_set = nncf.Dataset([val[i : i + 1] for i in range(len(val))], lambda x: {feed: x})

    def validate(m: Any, data: Any) -> tuple[float, list[float]]:
        """Mean logit cosine against the fp32 model, and each item's (NNCF ranks by them)."""
        c = m if hasattr(m, "create_infer_request") else ov.Core().compile_model(m, "CPU", f32)
        items = [x[feed] if isinstance(x, dict) else x for x in data]  # raw or transformed
        each = [measure(reference([x])[0], c([x])[0]).cosine for x in items]
        return float(np.mean(each)), each

    return nncf.quantize_with_accuracy_control(
        model,
        calibration_dataset=dataset,
        validation_dataset=val_set,
        validation_fn=validate,
        max_drop=0.02,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=CALIBRATION,
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            ranking_subset_size=RANKING
        ),
    )


def _time(compiled: dict[str, Any], x: np.ndarray, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in compiled}
    for c in compiled.values():  # warm-up
        c([x])
        c([x])
    for _ in range(rounds):
        for k, c in compiled.items():
            t = time.perf_counter()
            c([x])
            samples[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) * 1e3 for k, v in samples.items()}


def compare(name: str, work: Path, rounds: int) -> list[str]:
    import openvino as ov  # heavy optional engine

    pp = model_info(name).preprocess
    fp32 = convert(ConvertOptions(name, out_dir=work / name / "fp32", overwrite=True)).onnx_path
    label = "p2o int8"
    try:
        p2o = convert(
            ConvertOptions(name, out_dir=work / name / "int8", overwrite=True, precision="int8")
        ).onnx_path
    except CheckFailed:
        label = "p2o int8 (plain: accuracy-aware past its budget)"
        p2o = convert(
            ConvertOptions(
                name,
                out_dir=work / name / "int8",
                overwrite=True,
                precision=PrecisionOptions("int8", accuracy_aware=False),
            )
        ).onnx_path
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY"}
    fp32_ov = _ov_model(fp32, work)
    models = {
        "fp32": core.read_model(str(fp32_ov)),
        label: core.read_model(str(_ov_model(p2o, work))),
        "nncf.quantize": _nncf(fp32_ov, pp, accuracy_control=False),
    }
    try:
        models["nncf.quantize_with_accuracy_control"] = _nncf(fp32_ov, pp, True)
    except Exception as exc:  # reported; the rest is still measured
        print(f"{name}: quantize_with_accuracy_control failed: {type(exc).__name__}: {exc}")
    compiled = {
        k: core.compile_model(m, "CPU", {**config, "INFERENCE_PRECISION_HINT": "f32"})
        for k, m in models.items()
    }
    x_eval = crops.crop_batch("evaluation", EVALUATION, pp)
    paddle_dir = work / name / "paddle"
    export_static(create_model(name), paddle_dir)
    ref = next(iter(rt.create(REFERENCE, paddle_dir).run(x_eval).values()))
    ms = _time(compiled, x_eval[:1], rounds)
    rule = PRECISION.rule
    assert rule is not None
    lines = []
    for k, c in compiled.items():
        got = np.concatenate([c([x_eval[i : i + 1]])[0] for i in range(len(x_eval))])
        m = measure(ref, got)
        verdict = "-" if k == "fp32" else ("✓" if not judge(m, rule) else "✗")
        lines.append(
            f"| {name} | {k} | {ms[k]:.2f} | {ms['fp32'] / ms[k]:.2f}x | {m.cosine:.4f} | "
            f"{m.top1:.1%} | {m.top5:.1%} | {m.range_error:.3f} | {verdict} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ResNeSt50,ReXNet_1_0,RedNet26")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--work", help="where conversions go (default: a temporary folder)")
    args = ap.parse_args()
    header = [
        "| model | artifact | p50 ms | vs fp32 | mean cosine | top-1 agree | top-5 contain "
        "| range error | int8 rule |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="p2o-nncf-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        rows = []
        for name in args.models.split(","):
            rows += compare(name, work, args.rounds)
            print("\n".join([*header, *rows]), flush=True)


if __name__ == "__main__":
    main()
