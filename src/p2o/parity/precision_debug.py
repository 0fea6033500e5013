"""``p2o verify --precision-debug FP32.onnx``: the per-layer error of a reduced artifact.

The artifact (INT8 QDQ or fp16) and the fp32 ONNX model it was made from run side by side on
verify's evaluation crops (ONNX Runtime CPU, every intermediate tensor an output); each node
computing in the reduced precision gets the error it adds (``converter.precision.layer_error``),
largest first. Asked for explicitly: it runs both models with every tensor kept, which costs
seconds to minutes, and it needs the fp32 model, which the artifact does not carry.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from p2o.converter import ops
from p2o.converter import precision as precisions
from p2o.converter.precision import layer_error
from p2o.core.errors import UsageError
from p2o.core.results import LayerErrorReport
from p2o.zoo import crops
from p2o.zoo.registry import Preprocess

DEFAULT_SAMPLES = 32  # enough to rank nodes; the rule itself is judged on verify's 64 crops


def layer_report(
    artifact: str | Path,
    fp32: str | Path,
    preprocess: Preprocess | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> LayerErrorReport:
    """Every reduced node of ``artifact`` and the error it adds against ``fp32``."""
    reduced = onnx.load(str(artifact))
    precision = precisions.detect_model(reduced)
    if precision == "fp32":
        raise UsageError(f"--precision-debug: {artifact} is an fp32 model (nothing reduced)")
    if not Path(fp32).is_file():
        raise UsageError(f"--precision-debug: fp32 model not found: {fp32}")
    reference = onnx.load(str(fp32))
    if precisions.detect_model(reference) != "fp32":
        raise UsageError(f"--precision-debug: {fp32} is not an fp32 model")
    if reference.functions:  # the reduced passes inline model-local functions first
        reference = ops.inline(reference)
    x = crops.crop_batch("evaluation", samples, preprocess)
    report = layer_error.layer_errors(
        reference,
        reduced,
        x,
        precision=precision,
        reference=str(fp32),
        inputs=f"{samples} evaluation crops of the bundled photographs",
    )
    if not report.layers:
        raise UsageError(
            f"--precision-debug: no node of {artifact} matches {fp32} by name "
            "(was the artifact made from this fp32 model?)"
        )
    return report
