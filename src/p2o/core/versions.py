"""The versions of the tools that made or judged a result, read without importing them."""

from __future__ import annotations

import platform
from importlib import metadata

from p2o import __version__

TOOL_PACKAGES = (
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
    # p2o's own version from the package (its distribution is p2o-proof: p2o.DISTRIBUTION)
    versions = {"python": platform.python_version(), "p2o": __version__}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions
