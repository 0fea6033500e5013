"""Graph simplification (onnxsim or onnxslim), kept only when proved numerically equal."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx

from p2o.core.errors import CheckFailed, EnvironmentProblem, UsageError
from p2o.core.tolerance import PROOF_TOLERANCE, compare_outputs, min_tolerance

SIMPLIFIERS = ("onnxsim", "onnxslim", "none")  # also the order convert falls back in
# passes are proved under parity's one tolerance rule (p2o.core.tolerance), at this tolerance
TOLERANCE = PROOF_TOLERANCE
# The simplifier alone may be judged against the unsimplified graph's own float noise: how far
# ONNX Runtime's outputs for that graph move when its graph optimizations (fusions, constant
# folding: the same kind of rewrite a simplifier makes) are switched off. A simplified graph is
# accepted within NOISE_MULTIPLE times that noise, never below TOLERANCE (a graph ONNX Runtime
# does not rewrite has no noise to measure) and never above NOISE_CEILING (a real bug, an
# output off by a percent, still fails however ill-conditioned the model is).
NOISE_MULTIPLE = 10.0
NOISE_CEILING = 1e-3


@dataclass(frozen=True)
class Equivalence:
    """Outputs after a pass against the outputs before it, under parity's tolerance rule."""

    max_abs: float
    max_rel: float  # diagnostic: max|a - b| / max|a|
    min_tolerance: float  # the rule's measure (core.tolerance); passed when <= TOLERANCE
    passed: bool
    error: str = ""  # why the second model could not be run at all
    tolerance: float = TOLERANCE  # what min_tolerance was held to

    def __bool__(self) -> bool:
        return self.passed

    def describe(self) -> str:
        if self.error:
            return f"it no longer runs: {self.error}"
        return f"min tolerance {self.min_tolerance:.3g} > {self.tolerance:.3g}"

    def to_dict(self) -> dict[str, float]:
        return {
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "min_tolerance": self.min_tolerance,
        }


def simplify(model: onnx.ModelProto, tool: str) -> onnx.ModelProto:
    if tool == "none":
        return model
    if tool == "onnxsim":
        import onnxsim

        simplified, ok = onnxsim.simplify(model, check_n=0)
        if not ok:
            raise CheckFailed("onnxsim could not validate its simplified model")
        return simplified
    if tool == "onnxslim":
        import onnxslim

        return onnxslim.slim(model)
    raise UsageError(f"unknown simplifier {tool!r} (choose from {', '.join(SIMPLIFIERS)})")


def ort_run(
    model: onnx.ModelProto,
    feed: dict[str, np.ndarray],
    threads: int = 2,
    optimize: bool = True,
) -> list[np.ndarray]:
    """The model's outputs on ONNX Runtime CPU (``optimize=False``: its graph optimizer off)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EnvironmentProblem(
            "onnxruntime is not installed: pip install 'p2o-proof[cpu]' (or 'p2o-proof[gpu]')"
        ) from exc

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


def float_noise(
    model: onnx.ModelProto, feed: dict[str, np.ndarray], optimized: list[np.ndarray]
) -> float:
    """The graph's own float noise on ``feed``: the rule's measure (``min_tolerance``) of its
    outputs with ONNX Runtime's graph optimizations off against ``optimized`` (them on).

    Why this measure: a simplifier's rewrites (constant folding, fusing BatchNorm into Conv,
    reassociating) are what ORT's optimizer does, so how far they move this graph's outputs is
    the noise a correct simplification may add. (float64 would measure float32's rounding of
    the whole graph instead, and not every op has a double kernel in ONNX Runtime.)
    """
    plain = ort_run(model, feed, optimize=False)
    if len(plain) != len(optimized):
        return math.inf
    worst = 0.0
    for a, b in zip(plain, optimized, strict=True):
        m = min_tolerance(a, b)
        worst = max(worst, math.inf if m is None else m)
    return worst


def noise_tolerance(noise: float) -> float:
    """What a simplified graph is held to, given the unsimplified graph's float noise."""
    if not math.isfinite(noise):
        return TOLERANCE
    return min(max(NOISE_MULTIPLE * noise, TOLERANCE), NOISE_CEILING)


def outputs_equal(
    before: list[np.ndarray], after: list[np.ndarray], tolerance: float = TOLERANCE
) -> Equivalence:
    """``after`` against ``before`` (the outputs computed before the pass ran)."""
    if len(before) != len(after):
        return Equivalence(math.inf, math.inf, math.inf, False, "a different number of outputs")
    comparisons = [
        compare_outputs(a, b, tolerance, f"output {i}")
        for i, (a, b) in enumerate(zip(before, after, strict=True))
    ]
    if not all(c.min_tolerance is not None for c in comparisons):
        return Equivalence(math.inf, math.inf, math.inf, False, "an output changed its shape")
    max_abs = max((c.max_abs_error or 0.0) for c in comparisons) if comparisons else 0.0
    min_tol = max((c.min_tolerance or 0.0) for c in comparisons) if comparisons else 0.0
    max_rel = 0.0
    for a, c in zip(before, comparisons, strict=True):
        scale = float(np.abs(a).max()) if a.size else 0.0
        diff = c.max_abs_error
        if diff is None or not math.isfinite(c.min_tolerance or 0.0):
            max_rel = math.inf
        elif diff:
            max_rel = max(max_rel, diff / scale if scale > 0 else math.inf)
    return Equivalence(max_abs, max_rel, min_tol, all(comparisons), tolerance=tolerance)


def try_run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray] | str:
    """The model's outputs, or one line saying why it does not run."""
    try:
        return ort_run(model, feed)
    except EnvironmentProblem:
        raise
    except Exception as exc:  # onnxruntime raises its own types: the changed model is broken
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return first[:300]


def equivalence(
    before: onnx.ModelProto, after: onnx.ModelProto, feed: dict[str, np.ndarray]
) -> Equivalence:
    """Compare two models' outputs on ``feed`` with ONNX Runtime CPU.

    ``before`` runs first, so a pass that edits it in place afterwards cannot hide; the
    pipeline goes further and computes the outputs before the pass runs at all.
    """
    a = ort_run(before, feed)
    b = try_run(after, feed)
    if isinstance(b, str):
        return Equivalence(math.inf, math.inf, math.inf, False, b)
    return outputs_equal(a, b)
