"""The runtimes p2o can run, by name, and what each consumes.

``paddle`` and ``paddle-plain`` read an exported Paddle model directory (kind
``"paddle"``); the others read an ONNX file (kind ``"onnx"``). Importing this module
imports no engine: each runner imports its package when it builds.
"""

from __future__ import annotations

from typing import Any

from p2o.core.errors import UsageError, did_you_mean
from p2o.runtimes.base import Availability, Runner
from p2o.runtimes.onnxruntime import OrtCpuRunner, OrtCudaRunner, OrtTensorRTRunner
from p2o.runtimes.openvino import OpenVinoRunner
from p2o.runtimes.paddle import PaddlePlainRunner, PaddleRunner

KINDS = ("paddle", "onnx")

RUNTIMES: dict[str, type[Runner]] = {
    cls.name: cls
    for cls in (
        PaddleRunner,
        PaddlePlainRunner,
        OrtCpuRunner,
        OrtCudaRunner,
        OrtTensorRTRunner,
        OpenVinoRunner,
    )
}

_KIND: dict[str, str] = {name: "onnx" for name in RUNTIMES} | {
    PaddleRunner.name: "paddle",
    PaddlePlainRunner.name: "paddle",
}


def names(kind: str | None = None) -> list[str]:
    """Runtime names in registry order, optionally only those of ``kind``."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown runtime kind {kind!r} (choose from {', '.join(KINDS)})")
    return [n for n in RUNTIMES if kind is None or _KIND[n] == kind]


def get(name: str) -> type[Runner]:
    """The runner class of runtime ``name``; UsageError naming the valid ones otherwise."""
    try:
        return RUNTIMES[name]
    except KeyError:
        hint = did_you_mean(name, RUNTIMES)
        raise UsageError(
            f"unknown runtime {name!r}{hint} (choose from {', '.join(RUNTIMES)})"
        ) from None


def kind(name: str) -> str:
    """``"paddle"`` (reads a Paddle model directory) or ``"onnx"`` (reads an ONNX file)."""
    get(name)
    return _KIND[name]


def precisions(name: str) -> tuple[str, ...]:
    """The precisions runtime ``name`` accepts (fp32 first)."""
    return tuple(getattr(get(name), "precisions", ("fp32",)))


def unsupported_precision(name: str, precision: str) -> str | None:
    """Why runtime ``name`` cannot run ``precision`` (a skip reason), or None when it can."""
    supported = precisions(name)
    if precision in supported:
        return None
    return f"{name} has no {precision} (it runs {', '.join(supported)})"


def create(name: str, model_path: Any, **kw: Any) -> Runner:
    """A runner of runtime ``name`` on ``model_path`` (keywords go to its constructor)."""
    return get(name)(model_path, **kw)


def availability_table() -> list[tuple[str, str, Availability]]:
    """``(name, description, availability)`` for every runtime, in registry order."""
    rows = []
    for name, cls in RUNTIMES.items():
        try:
            avail = cls.availability()
        except Exception as exc:  # a broken install must not hide the other rows
            avail = Availability(False, f"availability check failed: {type(exc).__name__}: {exc}")
        rows.append((name, cls.description, avail))
    return rows
