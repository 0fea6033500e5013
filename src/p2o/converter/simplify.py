"""Graph simplification (onnxsim or onnxslim), kept only when proved numerically equal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from p2o.errors import CheckFailed, EnvironmentProblem, UsageError

SIMPLIFIERS = ("onnxsim", "onnxslim", "none")
EQUIVALENCE_RTOL = 1e-5  # max|a - b| <= rtol * max|a|, a = unsimplified model's outputs


@dataclass(frozen=True)
class Equivalence:
    max_abs: float
    max_rel: float  # max|a - b| / max|a|
    passed: bool
    error: str = ""  # why the second model could not be run at all

    def __bool__(self) -> bool:
        return self.passed

    def describe(self) -> str:
        if self.error:
            return f"it no longer runs: {self.error}"
        return f"max rel {self.max_rel:.3g} > {EQUIVALENCE_RTOL}"


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
    model: onnx.ModelProto, feed: dict[str, np.ndarray], threads: int = 2
) -> list[np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EnvironmentProblem(
            "onnxruntime is not installed: pip install 'p2o[cpu]' (or 'p2o[gpu]')"
        ) from exc

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


def equivalence(
    before: onnx.ModelProto, after: onnx.ModelProto, feed: dict[str, np.ndarray]
) -> Equivalence:
    """Compare two models' outputs on ``feed`` with ONNX Runtime CPU."""
    a = ort_run(before, feed)
    try:
        b = ort_run(after, feed)
    except Exception as exc:  # onnxruntime raises its own types: the changed model is broken
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Equivalence(float("inf"), float("inf"), False, first[:300])
    if len(a) != len(b):
        return Equivalence(float("inf"), float("inf"), False)
    max_abs = max_rel = 0.0
    for x, y in zip(a, b, strict=True):
        if x.shape != y.shape or not (np.isfinite(x).all() and np.isfinite(y).all()):
            return Equivalence(float("inf"), float("inf"), False)
        diff = float(np.abs(x.astype(np.float64) - y).max()) if x.size else 0.0
        scale = float(np.abs(x).max()) if x.size else 0.0
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / scale if scale > 0 else (0.0 if diff == 0 else np.inf))
    passed = bool(np.isfinite(max_rel) and max_rel <= EQUIVALENCE_RTOL)
    return Equivalence(max_abs, max_rel, passed)
