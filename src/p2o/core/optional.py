"""The optional halves of p2o: which package each needs, and how to say one is missing.

The core (ONNX files, golden outputs, ONNX Runtime, the reports) imports none of Paddle,
paddle2onnx or OpenVINO: a GPU box verifies and benchmarks with ``p2o-proof[gpu]`` alone.
Whether an optional package is there is asked with ``importlib.util.find_spec`` (nothing
imported); the package itself is imported only where it is used. A command that needs a missing one
ends with one line naming the extra to install (exit 2), not a traceback.
"""

from __future__ import annotations

import importlib.util

from p2o import DISTRIBUTION

# top-level module → (distribution, the p2o extra that brings it)
PACKAGES: dict[str, tuple[str, str]] = {
    "paddle": ("paddlepaddle", "paddle"),
    "paddle2onnx": ("paddle2onnx", "paddle"),
    "openvino": ("openvino", "cpu"),
    "onnxruntime": ("onnxruntime", "cpu"),
}
# What each extra is for, in the hint.
PURPOSE = {
    "paddle": "Paddle models: conversion, the zoo, the Paddle reference",
    "cpu": "Paddle + ONNX Runtime + OpenVINO on the CPU",
    "gpu": "ONNX Runtime CUDA/TensorRT, no Paddle",
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked finder, or a half-removed package
        return False


def install_hint(module: str) -> str:
    """``pip install 'p2o-proof[EXTRA]'`` for the extra that brings ``module``."""
    dist, extra = PACKAGES.get(module.partition(".")[0], (module, ""))
    if not extra:
        return f"pip install {dist}"
    return f"pip install '{DISTRIBUTION}[{extra}]' ({PURPOSE[extra]})"


def missing(module: str) -> str:
    """The reason of a runtime whose package is not installed."""
    dist, _ = PACKAGES.get(module.partition(".")[0], (module, ""))
    return f"{dist} is not installed; {install_hint(module)}"


def missing_from(exc: ImportError) -> str | None:
    """The one-line message for an ImportError of an optional package, else None."""
    name = (getattr(exc, "name", None) or "").partition(".")[0]
    if name not in PACKAGES:
        return None
    dist, _ = PACKAGES[name]
    if installed(name):  # there, but broken (a missing shared library, a bad build)
        return f"{dist} is installed but failed to import: {exc}"
    return f"this needs {dist}, which is not installed here: {install_hint(name)}"
