"""Op mappings: the registry. One module of this package per mapping, defining ``MAPPING``
(``OpMapping``); the pipeline's passes, the precision passes and the runtimes that need
standard ops (OpenVINO) ask this registry and never name a mapping.
"""

from __future__ import annotations

import importlib
import pkgutil

from onnx import ModelProto

from p2o.converter.ops.base import OpMapping
from p2o.converter.passes.functions import inline_functions


def _discover() -> dict[str, OpMapping]:
    """Every module (or package's ``mapping`` module) here that defines ``MAPPING``."""
    found: dict[str, OpMapping] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name == "base":
            continue
        name = f"{__name__}.{info.name}" + (".mapping" if info.ispkg else "")
        mapping = getattr(importlib.import_module(name), "MAPPING", None)
        if isinstance(mapping, OpMapping):
            found[mapping.name] = mapping
    return found


REGISTRY: dict[str, OpMapping] = _discover()
DOMAINS = tuple(sorted({m.domain for m in REGISTRY.values() if m.domain}))  # custom ones
TARGETS = tuple(dict.fromkeys(t for m in REGISTRY.values() for t in m.targets))


def retarget(model: ModelProto, target: str) -> ModelProto:
    """``model`` with every mapped op running the body its mapping picks for ``target``."""
    for mapping in REGISTRY.values():
        if target in mapping.targets and mapping.present(model):
            model = mapping.retarget(model, target)
    return model


def inline(model: ModelProto, target: str | None = None) -> ModelProto:
    """Standard ops only: every mapped op's function inlined (with ``target``'s bodies)."""
    if target is not None:
        model = retarget(model, target)
    return inline_functions(model, DOMAINS)


__all__ = ["DOMAINS", "REGISTRY", "TARGETS", "OpMapping", "inline", "retarget"]
