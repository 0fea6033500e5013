"""The noise floor: how much the reference disagrees with itself on the same inputs.

A conversion error and a model's own float noise look alike in one number. Beside every
verdict, verify measures, on one batch only (the first, of the largest batch size) and on the
tolerance rule's scale (``p2o.core.tolerance.min_tolerance``, what ``--tolerance`` bounds):

- with a Paddle model: Paddle Inference's plain kernels (the reference, ``paddle-plain``)
  against its oneDNN kernels (``paddle``), two correct implementations of the same program;
  their outputs are kept in p2o's cache like the reference's;
- without one (golden files): the ONNX graph on ONNX Runtime with its graph optimizations off
  against on (fusions, constant folding, reassociation: legal rewrites of the same graph).
  float64 was not chosen: ONNX Runtime has no double kernel for Conv and many other ops, and a
  cast graph would measure float32's rounding rather than two implementations' disagreement.

An error within ``NOISE_MULTIPLE`` times the floor is the model's own float noise;
``--tolerance auto`` is that multiple of the floor, never below ``AUTO_MIN_TOLERANCE`` (the
default tolerance: auto never asks more than the default) nor above ``AUTO_MAX_TOLERANCE`` (a
model whose own kernels disagree by percents is not made to pass anything).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from p2o.converter import simplify
from p2o.core.results import NOISE_MULTIPLE, NoiseFloor
from p2o.core.tolerance import min_tolerance

AUTO_MIN_TOLERANCE = 1e-4
AUTO_MAX_TOLERANCE = 5e-2
# Two Paddle engines further apart than this are not showing float noise but a defect of one
# (Paddle 3.3.1's oneDNN kernels are off by 9.7 on PaddleClas's ConvNeXt_tiny, where ONNX
# Runtime agrees with the plain kernels to 5e-6): the ONNX graph's floor is used instead.
PLAUSIBLE_FLOOR = 5e-2
ONEDNN = "paddle"  # the second Paddle engine the reference (paddle-plain) is compared with


def measure(reference: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]) -> float:
    """The rule's measure of ``other`` against ``reference``, worst over the outputs."""
    worst = 0.0
    for name, r in reference.items():
        m = min_tolerance(r, other[name]) if name in other else None
        worst = max(worst, math.inf if m is None else m)
    return worst


def paddle_floor(
    reference: Mapping[str, np.ndarray], onednn: Mapping[str, np.ndarray], samples: int
) -> NoiseFloor:
    return NoiseFloor(
        measure(reference, onednn),
        "paddle-kernels",
        f"Paddle Inference, plain vs oneDNN kernels, on the first batch ({_n(samples)})",
    )


def onnx_floor(onnx_path: str | Path, x: np.ndarray) -> NoiseFloor:
    """ONNX Runtime's graph optimizations off vs on, on ``x`` (see the module docstring)."""
    model = onnx.load(str(onnx_path))
    inits = {t.name for t in model.graph.initializer}
    name = next(i.name for i in model.graph.input if i.name not in inits)
    feed = {name: np.ascontiguousarray(x, np.float32)}
    optimized = simplify.ort_run(model, feed)
    return NoiseFloor(
        simplify.float_noise(model, feed, optimized),
        "onnx-optimizations",
        "the ONNX graph on ONNX Runtime CPU, graph optimizations off vs on, on the first batch "
        f"({_n(len(x))})",
    )


def _n(samples: int) -> str:
    return f"{samples} sample{'s' if samples != 1 else ''}"


def auto_tolerance(floor: NoiseFloor) -> float:
    """``--tolerance auto``: NOISE_MULTIPLE times the floor, within the fixed bounds."""
    if not math.isfinite(floor.value):
        return AUTO_MIN_TOLERANCE
    return min(max(NOISE_MULTIPLE * floor.value, AUTO_MIN_TOLERANCE), AUTO_MAX_TOLERANCE)
