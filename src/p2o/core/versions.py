"""The versions of the tools that made or judged a result, read without importing them."""

from __future__ import annotations

import platform
from importlib import metadata

TOOL_PACKAGES = (
    "p2o",
    "paddlepaddle",
    "paddle2onnx",
    "onnx",
    "onnxruntime",
    "openvino",
    "onnxsim",
    "onnxslim",
    "numpy",
)


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions
