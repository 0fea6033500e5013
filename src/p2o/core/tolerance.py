"""Parity metrics and the tolerance rule; results that serialize to JSON.

The tolerance rule
------------------
One output of the engine under test, ``actual`` (a), is compared with the same output of
the reference engine, ``reference`` (r), at a tolerance ``t`` (a non-negative number):

1. The shapes must be equal. A different shape fails, whatever ``t``.
2. Every value of both arrays must be finite. One NaN or ±Inf anywhere fails, whatever ``t``.
3. Every element must satisfy, computed in float64::

       |a - r| / max(|r|, floor) <= t        with   floor = FLOOR_FRACTION * max(|r|)

   where ``max(|r|)`` is taken over the whole reference output and
   ``FLOOR_FRACTION = 0.1``. So an element is held to relative error ``t`` when it is at
   least a tenth of the output's largest magnitude, and to the absolute error
   ``t * floor`` when it is smaller. Rounding noise is absolute noise at the scale of the
   values an output is computed from, so a logit of 1e-7 next to logits of 10 may be off
   by 1e-6 without failing; yet a whole output scaled by 1.01 fails at any ``t`` below
   1e-2, because its largest element is always measured against itself. An all-zero
   reference (floor 0) requires exact zeros.

``min_tolerance`` is the left-hand side's maximum over the elements: the output passes
exactly when ``min_tolerance <= t`` (it is ``inf`` when rule 2 fails and ``None`` when
rule 1 fails). Why 0.1: on real zoo networks (ReXNet_1_0, RegNetX_400MF,
Res2Net50_26w_4s, 8 photographs), two correct fp32 engines (Paddle oneDNN against Paddle
plain, ONNX Runtime CPU, OpenVINO CPU) differ by at most about 2.6e-6 of the output's
largest magnitude; a floor of 0.1 makes that a ``min_tolerance`` of at most about 2e-5,
well under 1e-4, whereas a floor of 1e-2 already fails ReXNet at 1e-4 (1.6e-4) and one of
1e-3 fails all three (up to 1.3e-3).

The other metrics are diagnostics, reported but not part of the verdict: the maximum
absolute error, the maximum plain relative error ``|a - r| / |r|`` (over ``r != 0``; it
explodes near zero, which is why the rule has a floor), the mean absolute error, and,
for each sample (the first axis; a 0-d or 1-d output is one sample; the remaining axes
are flattened into "classes"): the cosine similarity (minimum over the samples), top-1
agreement (the fraction of samples whose argmax is the same) and top-5 agreement (the
fraction of samples whose five highest classes are the same set, in any order; this
implies the reference's top-1 is in the actual top-5; k is the class count when fewer
than five).

Where the rule is used
----------------------
This is p2o's one "close enough" rule. ``verify`` applies it at the user's tolerance
(``DEFAULT_TOLERANCE``); the converter proves each of its graph passes (op mappings, the
simplifier, group alignment) with it at ``PROOF_TOLERANCE``, comparing the pass's outputs with
the outputs computed before the pass ran; the localizer (``parity.localize``) measures each
layer with it, so its "off by" is a ``min_tolerance`` on the same scale as ``--tolerance``.

Per-output tolerances are given to ``compare_all`` as a dict by output name. The results
(``OutputComparison``, ``RuntimeResult``, ``ParityReport``) live in ``p2o.core.results``: a truth
value meaning "passed", ``to_dict()`` for strict JSON and ``from_dict()``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from p2o.core.errors import UsageError
from p2o.core.results import STATUSES, OutputComparison, ParityReport, RuntimeResult

__all__ = [
    "DEFAULT_TOLERANCE",
    "FLOOR_FRACTION",
    "PROOF_TOLERANCE",
    "STATUSES",
    "OutputComparison",
    "ParityReport",
    "RuntimeResult",
    "check_tolerance",
    "compare_all",
    "compare_outputs",
    "min_tolerance",
]

FLOOR_FRACTION = 0.1
DEFAULT_TOLERANCE = 1e-4  # verify's default: two correct fp32 engines stay below ~2e-5
# a graph pass of the converter (same engine, reordered ops). RedNet26's involution mapping
# measures 6.3e-6 under this rule (max|a-b|/max|a| 6.6e-7); a wrong mapping is off by > 1e-2
PROOF_TOLERANCE = 5e-5
TOP_K = 5


def check_tolerance(tolerance: float | str) -> float:
    """A valid tolerance as a float, or UsageError."""
    try:
        t = float(tolerance)
    except (TypeError, ValueError):
        raise UsageError(f"tolerance must be a number, got {tolerance!r}") from None
    if not math.isfinite(t) or t < 0:
        raise UsageError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    return t


def _as_samples(x: np.ndarray) -> np.ndarray:
    """A [samples, classes] view: the first axis is the sample; 0-d and 1-d are one sample."""
    return x.reshape(x.shape[0], -1) if x.ndim >= 2 else x.reshape(1, -1)


def _min_cosine(r2: np.ndarray, a2: np.ndarray) -> float:
    dot = np.einsum("ij,ij->i", r2, a2)
    norms = np.linalg.norm(r2, axis=1) * np.linalg.norm(a2, axis=1)
    zero_r = ~r2.any(axis=1)
    zero_a = ~a2.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(norms > 0, dot / norms, 0.0)
    cos = np.where(zero_r & zero_a, 1.0, cos)  # two zero vectors point the same way
    return float(np.clip(cos, -1.0, 1.0).min())


def _top_k(x2: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest classes per sample (ties: the lower index first)."""
    return np.argsort(-x2, axis=1, kind="stable")[:, :k]


def _agreement(r2: np.ndarray, a2: np.ndarray) -> tuple[float, float]:
    top1 = float(np.mean(np.argmax(r2, axis=1) == np.argmax(a2, axis=1)))
    k = min(TOP_K, r2.shape[1])
    same = np.sort(_top_k(r2, k), axis=1) == np.sort(_top_k(a2, k), axis=1)
    return top1, float(np.mean(same.all(axis=1)))


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _max_rel(diff: np.ndarray, r: np.ndarray) -> float:
    nonzero = r != 0
    if nonzero.any():
        rel = float((diff[nonzero] / np.abs(r[nonzero])).max())
    else:
        rel = 0.0
    if (diff[~nonzero] > 0).any():  # an error against an exact zero is infinitely relative
        rel = math.inf
    return rel


def _ratio(r: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, float]:
    """Rule 3's left-hand side per element, and the floor (finite float64 arrays)."""
    floor = FLOOR_FRACTION * float(np.abs(r).max())
    denominator = np.maximum(np.abs(r), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denominator > 0, diff / denominator, np.where(diff > 0, np.inf, 0.0))
    return ratio, floor


def min_tolerance(reference: np.ndarray, actual: np.ndarray) -> float | None:
    """The rule alone: the smallest tolerance at which ``actual`` passes (None: shapes differ,
    inf: a non-finite value). Cheap enough to measure thousands of tensors (the localizer)."""
    r, a = np.asarray(reference), np.asarray(actual)
    if r.shape != a.shape:
        return None
    if r.size == 0:
        return 0.0
    r64, a64 = r.astype(np.float64), a.astype(np.float64)
    if not (np.isfinite(r64).all() and np.isfinite(a64).all()):
        return math.inf
    ratio, _ = _ratio(r64, np.abs(a64 - r64))
    return float(ratio.max())


def compare_outputs(
    reference: np.ndarray, actual: np.ndarray, tolerance: float, name: str = "output"
) -> OutputComparison:
    """Compare one output with the reference under the module's tolerance rule."""
    t = check_tolerance(tolerance)
    r_in, a_in = np.asarray(reference), np.asarray(actual)
    result = functools.partial(
        OutputComparison,
        name=name,
        tolerance=t,
        reference_shape=tuple(int(d) for d in r_in.shape),
        actual_shape=tuple(int(d) for d in a_in.shape),
    )
    if r_in.shape != a_in.shape:
        why = f"shape mismatch: reference {tuple(r_in.shape)} vs actual {tuple(a_in.shape)}"
        return result(passed=False, reason=why)
    try:
        r, a = r_in.astype(np.float64), a_in.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: cannot compare {r_in.dtype} with {a_in.dtype} ({exc})") from exc
    if r.size == 0:
        return result(passed=True, reason="empty output", min_tolerance=0.0)

    bad_r, bad_a = ~np.isfinite(r), ~np.isfinite(a)
    n_bad_r, n_bad_a = int(bad_r.sum()), int(bad_a.sum())
    if n_bad_r or n_bad_a:
        finite = ~(bad_r | bad_a)
        diff = np.abs(a[finite] - r[finite])
        worst = _index(int(np.flatnonzero(~finite)[0]), r.shape)
        parts = [
            f"{n} non-finite value(s) in {which}"
            for n, which in ((n_bad_a, "actual"), (n_bad_r, "reference"))
            if n
        ]
        return result(
            passed=False,
            reason=f"{' and '.join(parts)}; first at {list(worst)}",
            min_tolerance=math.inf,
            max_abs_error=float(diff.max()) if diff.size else None,
            max_rel_error=_max_rel(diff, r[finite]) if diff.size else None,
            mean_abs_error=float(diff.mean()) if diff.size else None,
            worst_index=worst,
            worst_reference=float(r[worst]),
            worst_actual=float(a[worst]),
            nonfinite_reference=n_bad_r,
            nonfinite_actual=n_bad_a,
        )

    diff = np.abs(a - r)
    ratio, floor = _ratio(r, diff)
    flat = int(np.argmax(ratio))
    worst = _index(flat, r.shape)
    needed = float(ratio.reshape(-1)[flat])
    passed = needed <= t
    r2, a2 = _as_samples(r), _as_samples(a)
    top1, top5 = _agreement(r2, a2)
    reason = (
        ""
        if passed
        else (
            f"|a-r|/max(|r|, floor) reaches {needed:.3g} > tolerance {t:.3g} at "
            f"{list(worst)} (reference {r[worst]:.7g}, actual {a[worst]:.7g}, floor {floor:.3g})"
        )
    )
    return result(
        passed=passed,
        reason=reason,
        min_tolerance=needed,
        floor=floor,
        max_abs_error=float(diff.max()),
        max_rel_error=_max_rel(diff, r),
        mean_abs_error=float(diff.mean()),
        cosine_similarity=_min_cosine(r2, a2),
        top1_agreement=top1,
        top5_agreement=top5,
        worst_index=worst,
        worst_reference=float(r[worst]),
        worst_actual=float(a[worst]),
    )


def compare_all(
    reference: Mapping[str, np.ndarray],
    actual: Mapping[str, np.ndarray],
    tolerance: float,
    overrides: Mapping[str, float] | None = None,
) -> list[OutputComparison]:
    """Compare every reference output with the engine's, one comparison per reference output.

    Outputs pair up by name when the engine has every reference name, else by position
    when both have as many outputs (engines name outputs differently: Paddle's fetch names
    are not the ONNX graph's); comparisons carry the reference's names. ``overrides`` maps
    a reference output name to its own tolerance; an unknown name is a UsageError.
    """
    t = check_tolerance(tolerance)
    per_output = {k: check_tolerance(v) for k, v in (overrides or {}).items()}
    unknown = sorted(set(per_output) - set(reference))
    if unknown:
        raise UsageError(
            f"tolerance given for unknown output(s) {unknown}; outputs: {list(reference)}"
        )
    if set(reference) <= set(actual):
        pairs: Sequence[tuple[str, str | None]] = [(n, n) for n in reference]
    elif len(reference) == len(actual):
        pairs = list(zip(reference, actual, strict=True))
    else:
        pairs = [(n, None) for n in reference]
    results = []
    for ref_name, act_name in pairs:
        tol = per_output.get(ref_name, t)
        if act_name is None:
            r_shape = tuple(int(d) for d in np.shape(reference[ref_name]))
            results.append(
                OutputComparison(
                    name=ref_name,
                    tolerance=tol,
                    passed=False,
                    reference_shape=r_shape,
                    actual_shape=(),
                    reason=f"no matching output in the engine's {list(actual)}",
                )
            )
        else:
            results.append(compare_outputs(reference[ref_name], actual[act_name], tol, ref_name))
    return results
