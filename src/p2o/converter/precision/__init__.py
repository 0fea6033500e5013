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

import importlib
import pkgutil
from typing import Any

import onnx

from p2o.converter.precision.base import (
    ACTIVATION_TYPES,
    CALIBRATION_METHODS,
    METADATA_KEY,
    REGISTRY,
    Precision,
    PrecisionInfo,
    PrecisionOptions,
    detect,
    detect_model,
    set_metadata,
)
from p2o.core.errors import UsageError


def _discover() -> dict[str, Precision]:
    """Every module of this package that defines ``PRECISION``, in a stable order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            module = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(module, "PRECISION"):
                found.append(module.PRECISION)
    order = {"fp32": 0, "fp16": 1, "bf16": 2, "int8": 3}
    found.sort(key=lambda p: (order.get(p.name, 9), p.name))
    return {p.name: p for p in found}


REGISTRY.update(_discover())
ARTIFACTS = tuple(n for n, p in REGISTRY.items() if p.artifact)  # convert --precision
ENGINE = tuple(n for n, p in REGISTRY.items() if p.engine)  # verify/bench --precision
RUNTIME_ONLY = tuple(n for n, p in REGISTRY.items() if not p.artifact)  # hints on fp32
ALL = tuple(REGISTRY)
PRECISIONS = ARTIFACTS  # the artifact precisions, as convert names them


def get(name: str) -> Precision:
    if name not in REGISTRY:
        raise UsageError(f"unknown precision {name!r} (choose from {', '.join(ALL)})")
    return REGISTRY[name]


def apply(
    model: onnx.ModelProto, options: PrecisionOptions, preprocess: Any = None
) -> tuple[onnx.ModelProto, PrecisionInfo]:
    """``model`` (fp32) converted to ``options.precision``; fp32 returns it unchanged."""
    make = get(options.precision).make
    if make is None:
        out, info = model, PrecisionInfo("fp32", "none")
    else:
        out, info = make(model, options, preprocess)
    set_metadata(out, METADATA_KEY, info.precision)
    return out, info


__all__ = [
    "ACTIVATION_TYPES",
    "ALL",
    "ARTIFACTS",
    "CALIBRATION_METHODS",
    "ENGINE",
    "METADATA_KEY",
    "PRECISIONS",
    "REGISTRY",
    "RUNTIME_ONLY",
    "Precision",
    "PrecisionInfo",
    "PrecisionOptions",
    "apply",
    "detect",
    "detect_model",
    "get",
    "set_metadata",
]
