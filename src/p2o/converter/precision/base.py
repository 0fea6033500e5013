"""What every precision shares: the ``Precision`` definition, the options and manifest record
of a precision pass, and how an artifact's precision is written and read back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx

from p2o.core.errors import UsageError
from p2o.core.results import AgreementRule

METADATA_KEY = "p2o.precision"
ACTIVATION_TYPES = ("uint8", "int8")
CALIBRATION_METHODS = ("auto", "minmax", "entropy", "percentile", "distribution")
AUTO_CALIBRATION = ("minmax", "percentile")
"""``auto``: MinMax; when the accuracy-aware pass cannot make it pass the int8 rule within its
budget, percentile (99.999) calibration and the pass again. ReXNet_1_0: MinMax misses the rule
with 18 of 185 nodes float, percentile passes with 18 and then verify (docs/precision.md)."""


Make = Callable[[onnx.ModelProto, "PrecisionOptions", Any], tuple[onnx.ModelProto, "PrecisionInfo"]]


@dataclass(frozen=True)
class Precision:
    """One precision, defined once (one file of this package each).

    ``make``: the pass that turns the fp32 model into this precision's artifact (None: no
    artifact of its own: fp32 is the converter's output, bf16/tf32 are engine hints on it);
    ``engine``: whether an engine can be asked to compute in it (verify/bench --precision);
    ``rule``: the agreement rule that judges it (None: the element-wise tolerance rule);
    ``native``: the runtimes that compute in it natively (others emulate or refuse it).
    """

    name: str
    make: Make | None
    engine: bool
    rule: AgreementRule | None
    native: tuple[str, ...]
    about: str

    @property
    def artifact(self) -> bool:
        return self.name == "fp32" or self.make is not None


REGISTRY: dict[str, Precision] = {}  # filled by the package from its precision files


@dataclass(frozen=True)
class PrecisionOptions:
    """How to make the artifact; the INT8 fields are ignored for fp32 and fp16."""

    precision: str = "fp32"
    activation_type: str = "uint8"  # what CPU engines fuse into integer kernels
    calibration_method: str = "auto"  # AUTO_CALIBRATION in turn; a method named: that one
    calibration: str | None = None  # a folder of images; None: bundled photo crops
    calibration_count: int = 32  # crops of the bundled photos (a folder: all its images)
    per_channel: bool = True
    max_float: float = 0.10  # int8: at most this fraction of quantizable nodes kept float
    accuracy_aware: bool = True  # int8: keep the worst nodes float until the rule passes

    def __post_init__(self) -> None:
        artifacts = [n for n, p in REGISTRY.items() if p.artifact]
        if self.precision not in artifacts:
            hint = f" ({self.precision} is a runtime precision: verify/bench --precision)"
            raise UsageError(
                f"unknown precision {self.precision!r} (choose from {', '.join(artifacts)})"
                + (hint if self.precision in REGISTRY else "")
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
        if not 0.0 <= self.max_float <= 1.0:
            raise UsageError(f"max float fraction must be within 0-1, got {self.max_float!r}")
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
        if prop.key == METADATA_KEY and prop.value in ("fp32", "fp16", "int8"):
            return prop.value
    ops = {n.op_type for n in model.graph.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops or {"QLinearConv", "ConvInteger"} & ops:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"
