"""Lines of a verify report about reduced precision: the rule, the accuracy cost, accuracy."""

from __future__ import annotations

from p2o.bench.precisions import speedups
from p2o.core.results import ModelRecord, Status, VerifyResult
from p2o.report.table import Row, Table, status_text


def precision_lines(result: VerifyResult) -> list[str]:
    """The agreement rule in force and, with labels, accuracy (each engine's accuracy cost is
    its table's row, in the rule's own columns)."""
    lines = []
    for rule in dict.fromkeys(r for r in result.precision.rules.values() if r is not None):
        lines.append(
            f"not the element-wise tolerance: judged by the {rule.describe()}, "
            f"against {result.report.reference} fp32"
        )
    if result.accuracy:
        a0 = result.accuracy[0]
        lines.append(
            f"accuracy on {result.labels}: {result.report.reference} fp32 top-1 "
            f"{a0.reference_top1:.2f}% top-5 {a0.reference_top5:.2f}%"
        )
        lines.extend(a.describe() for a in result.accuracy)
    return lines


PRECISION_COLUMNS = [
    "precision",
    "runtime",
    "status",
    "speed-up",
    "mean cosine",
    "top-1 agree",
    "top-5 contain",
    "range error",
    "kept float",
]


def precision_table(rec: ModelRecord) -> Table | None:
    """A release model's precisions side by side: accuracy cost vs Paddle fp32 and the
    speed-up vs the same runtime's fp32 (from the bench, when it ran); None: fp32 only."""

    if not rec.precisions:
        return None
    batch = rec.verify.batches[0] if rec.verify is not None and rec.verify.batches else 1
    speed = speedups(rec.bench).get(batch, {}) if rec.bench is not None else {}
    rows = []
    for p, v in rec.precisions.items():
        for r in v.report.results:
            if r.batch not in (None, batch):
                continue
            m = next((a for o in r.outputs if (a := getattr(o, "agreement", None))), None)
            x = speed.get(f"{r.runtime} {p}")
            cells = {
                "precision": p,
                "runtime": r.runtime,
                "status": status_text(r.status),
                "speed-up": "-" if x is None else f"{x:.2f}x",
                "mean cosine": "-" if m is None else f"{m.cosine:.5f}",
                "top-1 agree": "-" if m is None else f"{m.top1:.1%}",
                "top-5 contain": "-" if m is None else f"{m.top5:.1%}",
                "range error": "-" if m is None else f"{m.range_error:.3g}",
                "kept float": kept_float_cell(v),
            }
            rows.append(Row(cells, r.status, f"{r.runtime}[{p}]", r.reason))
    return Table(
        f"{rec.model}: precisions (accuracy cost vs Paddle fp32, speed-up vs the runtime's fp32)",
        list(PRECISION_COLUMNS),
        rows,
        suite=f"p2o.release.{rec.model}.precision",
    )


def kept_float_cell(result: VerifyResult) -> str:
    """``2 of 185``: nodes the accuracy-aware INT8 pass kept float ("-": none recorded;
    ``18 of 185 tried``: its last try, when it gave up and wrote no artifact)."""
    layers = getattr(result, "layer_errors", None)
    if layers is None or not layers.reduced_nodes:
        return "-"
    tried = "" if result.onnx_file else " tried"
    return f"{len(layers.kept_float)} of {layers.reduced_nodes}{tried}"


def best_reduced(rec: ModelRecord) -> str:
    """The fastest reduced precision and runtime that passed its rule, e.g. ``int8 openvino
    3.12x`` (by speed-up when the bench ran, else the first that passed); ``none passed``."""
    batch = rec.verify.batches[0] if rec.verify is not None and rec.verify.batches else 1
    speed = speedups(rec.bench).get(batch, {}) if rec.bench is not None else {}
    passed = [
        (speed.get(f"{r.runtime} {p}"), f"{p} {r.runtime}")
        for p, v in rec.precisions.items()
        for r in v.report.results
        if r.batch in (None, batch) and r.status is Status.PASSED
    ]
    if not passed:
        return "none passed"
    timed = [(x, label) for x, label in passed if x is not None]
    if not timed:
        return passed[0][1]
    x, label = max(timed)
    return f"{label} {x:.2f}x"
