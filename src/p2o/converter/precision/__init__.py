"""Precision passes: an fp32 ONNX model → an fp16 or INT8 (QDQ) artifact.

One file per pass (``fp16``, ``int8``); ``apply`` dispatches by name and returns the new
model with what the manifest records about it (``PrecisionInfo``). The precision is also
written into the model's ``metadata_props`` (``p2o.precision``), so verify and bench know
what they hold without the manifest; ``detect`` falls back to the graph itself (QDQ nodes,
float16 initializers) for artifacts p2o did not make.

fp32 is no pass: it is the converter's plain output. bf16 is not an artifact either: it is a
runtime precision (OpenVINO's ``INFERENCE_PRECISION_HINT``) applied to the fp32 model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx

from p2o.core.errors import UsageError

PRECISIONS = ("fp32", "fp16", "int8")
RUNTIME_PRECISIONS = ("bf16",)  # applied by an engine to the fp32 artifact
METADATA_KEY = "p2o.precision"
ACTIVATION_TYPES = ("uint8", "int8")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile", "distribution")


@dataclass(frozen=True)
class PrecisionOptions:
    """How to make the artifact; the INT8 fields are ignored for fp32 and fp16."""

    precision: str = "fp32"
    activation_type: str = "uint8"  # what CPU engines fuse into integer kernels
    calibration_method: str = "minmax"
    calibration: str | None = None  # a folder of images; None: bundled photo crops
    calibration_count: int = 32  # crops of the bundled photos (a folder: all its images)
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            hint = " (bf16 is a runtime precision: verify/bench --precision bf16)"
            raise UsageError(
                f"unknown precision {self.precision!r} (choose from {', '.join(PRECISIONS)})"
                + (hint if self.precision in RUNTIME_PRECISIONS else "")
            )
        if self.activation_type not in ACTIVATION_TYPES:
            raise UsageError(
                f"activation type must be one of {', '.join(ACTIVATION_TYPES)}, "
                f"got {self.activation_type!r}"
            )
        if self.calibration_method not in CALIBRATION_METHODS:
            raise UsageError(
                f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, "
                f"got {self.calibration_method!r}"
            )
        if self.calibration_count < 1:
            raise UsageError(f"calibration count must be >= 1, got {self.calibration_count}")
        if self.calibration is not None and not Path(self.calibration).is_dir():
            raise UsageError(f"calibration folder not found: {self.calibration}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PrecisionInfo:
    """What the manifest records about the precision pass."""

    precision: str
    method: str
    details: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)  # source, samples, sha256

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply(
    model: onnx.ModelProto, options: PrecisionOptions, preprocess: Any = None
) -> tuple[onnx.ModelProto, PrecisionInfo]:
    """``model`` (fp32) converted to ``options.precision``; fp32 returns it unchanged."""
    if options.precision == "fp32":
        out, info = model, PrecisionInfo("fp32", "none")
    elif options.precision == "fp16":
        from p2o.converter.precision import fp16

        out, info = fp16.convert(model)
    else:
        from p2o.converter.precision import int8

        out, info = int8.quantize(model, options, preprocess)
    set_metadata(out, METADATA_KEY, info.precision)
    return out, info


def set_metadata(model: onnx.ModelProto, key: str, value: str) -> None:
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    model.metadata_props.add(key=key, value=value)


def detect(path: str | Path) -> str:
    """The artifact precision of an ONNX file: its ``p2o.precision`` metadata, else the graph."""
    return detect_model(onnx.load(str(path), load_external_data=False))


def detect_model(model: onnx.ModelProto) -> str:
    """The artifact precision of a loaded model (see ``detect``)."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY and prop.value in PRECISIONS:
            return prop.value
    ops = {n.op_type for n in model.graph.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops or {"QLinearConv", "ConvInteger"} & ops:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"
