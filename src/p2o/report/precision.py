"""Lines of a verify report about reduced precision: the rule, the accuracy cost, accuracy."""

from __future__ import annotations

from p2o.results import VerifyResult


def precision_lines(result: VerifyResult) -> list[str]:
    """The agreement rule in force, each engine's accuracy cost and, with labels, accuracy."""
    from p2o.parity import acceptance

    lines = []
    rules = {
        tuple(sorted(r.items())): r for r in (result.precision.get("rules") or {}).values() if r
    }
    for rule in rules.values():
        rule_text = acceptance.AgreementRule(**rule).describe()
        lines.append(f"not the element-wise tolerance: judged by the {rule_text}")
    for r in result.report.results:
        for o in r.outputs:
            cost = acceptance.describe(o)
            if cost:
                what = f"{r.runtime} bs={r.batch} {getattr(o, 'precision', '')}"
                lines.append(f"accuracy cost vs {result.report.reference} fp32, {what}: {cost}")
    if result.accuracy:
        a0 = result.accuracy[0]
        lines.append(
            f"accuracy on {result.labels}: {result.report.reference} fp32 top-1 "
            f"{a0.reference_top1:.2f}% top-5 {a0.reference_top5:.2f}%"
        )
        lines.extend(a.describe() for a in result.accuracy)
    return lines
