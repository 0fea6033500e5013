"""The agreement metrics of a reduced precision and the check of a rule against them.

Measured per sample (the first axis; the other axes are flattened): mean and minimum cosine,
top-1 agreement, top-5 containment and the range error (see ``p2o.parity.acceptance``, which
applies them to verify's outputs). They live in core because the converter uses them too:
the accuracy-aware INT8 pass judges its candidates on calibration crops by the same rule,
and the per-layer error of a reduced artifact is measured with the same cosine and range
error on intermediate tensors.
"""

from __future__ import annotations

import numpy as np

from p2o.core.results import Agreement, AgreementRule

TOP_K = 5


def measure(reference: np.ndarray, actual: np.ndarray) -> Agreement:
    """Agreement of ``actual`` with ``reference`` (same shape, finite), per sample."""
    r = np.asarray(reference, np.float64)
    a = np.asarray(actual, np.float64)
    r = r.reshape(r.shape[0], -1) if r.ndim >= 2 else r.reshape(1, -1)
    a = a.reshape(a.shape[0], -1) if a.ndim >= 2 else a.reshape(1, -1)
    norms = np.linalg.norm(r, axis=1) * np.linalg.norm(a, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(norms > 0, np.einsum("ij,ij->i", r, a) / norms, 0.0)
    both_zero = ~r.any(axis=1) & ~a.any(axis=1)
    cos = np.clip(np.where(both_zero, 1.0, cos), -1.0, 1.0)
    ref_top1 = np.argmax(r, axis=1)
    k = min(TOP_K, r.shape[1])
    act_topk = np.argsort(-a, axis=1, kind="stable")[:, :k]
    span = r.max(axis=1) - r.min(axis=1)
    err = np.abs(a - r).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(span > 0, err / span, np.where(err > 0, np.inf, 0.0))
    return Agreement(
        samples=len(r),
        cosine=float(cos.mean()),
        min_cosine=float(cos.min()),
        top1=float(np.mean(ref_top1 == np.argmax(a, axis=1))),
        top5=float(np.mean((act_topk == ref_top1[:, None]).any(axis=1))),
        range_error=float(rel.max()),
    )


def judge(m: Agreement, rule: AgreementRule) -> list[str]:
    """What ``m`` misses of ``rule`` (empty: it passes)."""
    misses = []
    if m.samples < rule.min_samples:
        misses.append(
            f"only {m.samples} samples compared; the rule needs >= {rule.min_samples} "
            "(use the default evaluation crops, or lower --min-samples)"
        )
    if not m.cosine >= rule.min_cosine:
        misses.append(f"mean cosine {m.cosine:.5f} < {rule.min_cosine:g}")
    if not m.top1 >= rule.min_top1:
        misses.append(f"top-1 agreement {m.top1:.1%} < {rule.min_top1:.0%}")
    if not m.top5 >= rule.min_top5:
        misses.append(f"top-5 containment {m.top5:.1%} < {rule.min_top5:.0%}")
    if not m.range_error <= rule.max_range_error:
        misses.append(
            f"max |a-r| is {m.range_error:.3g} of the logit range > {rule.max_range_error:g}"
        )
    return misses
