"""``p2o verify``'s result as a report: one row per runtime and batch size, every number."""

from __future__ import annotations

from typing import Any

from p2o.core.results import OutputComparison, ParityReport, RuntimeResult, Status, VerifyResult
from p2o.report.precision import precision_lines
from p2o.report.table import Report, Row, Table, status_text

COLUMNS = [
    "runtime",
    "batch",
    "status",
    "max abs",
    "max rel",
    "mean abs",
    "cosine",
    "top-1",
    "top-5",
    "min tol",
    "worst at",
]
RULE = "per element |a-r| <= tol * max(|r|, 0.1*max|r|)"


def fmt(v: Any, spec: str = ".2e") -> str:
    """A number as text: ``-`` for none, ``inf``/``nan`` spelled out."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v != v:
        return "nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return format(v, spec)


def worst_output(r: RuntimeResult) -> OutputComparison | None:
    """The output that decides the row: the first failing one, else the least close one."""
    if not r.outputs:
        return None
    failing = [o for o in r.outputs if not o]
    if failing:
        return failing[0]
    return max(r.outputs, key=lambda o: -1.0 if o.min_tolerance is None else o.min_tolerance)


def outcome(r: RuntimeResult, strict: bool) -> tuple[Status, str, str]:
    """(outcome as a check, status cell, reason): a strict-mode skip is a failure."""
    if strict and r.status is Status.SKIPPED:
        return Status.FAILED, "SKIPPED (strict)", f"strict: skipped counts as failure: {r.reason}"
    return r.status, status_text(r.status), r.reason


def runtime_row(r: RuntimeResult, strict: bool) -> Row:
    o = worst_output(r)
    status, cell, reason = outcome(r, strict)
    batch = r.batch

    def num(name: str, spec: str = ".2e") -> str:
        # ``o is None``, not ``not o``: a comparison's truth value is "passed", and a failed
        # row is the one whose numbers a person needs
        return "-" if o is None else fmt(getattr(o, name), spec)

    cells = {
        "runtime": r.runtime,
        "batch": "-" if batch is None else str(batch),
        "status": cell,
        "max abs": num("max_abs_error"),
        "max rel": num("max_rel_error"),
        "mean abs": num("mean_abs_error"),
        "cosine": num("cosine_similarity", ".7f"),
        "top-1": num("top1_agreement", ".0%"),
        "top-5": num("top5_agreement", ".0%"),
        "min tol": fmt(r.min_tolerance),
        "worst at": "-" if o is None or o.worst_index is None else str(list(o.worst_index)),
    }
    seconds = r.seconds if r.seconds is not None else r.build_seconds
    case = r.runtime if batch is None else f"{r.runtime}[bs={batch}]"
    return Row(cells, status, case, reason, seconds)


def summary(rep: ParityReport) -> str:
    c = rep.counts
    tail = " (strict: skipped counts as failure)" if rep.strict else ""
    word = "PASSED" if rep.passed else "FAILED"
    return (
        f"{word}: {c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
        f"{c['skipped']} skipped{tail}"
    )


def parity_table(rep: ParityReport, title: str = "", suite: str = "") -> Table:
    return Table(
        title=title,
        columns=list(COLUMNS),
        rows=[runtime_row(r, rep.strict) for r in rep.results],
        verdict=rep.status,
        reason=rep.reason,
        suite=suite or f"p2o.verify.{rep.model}",
    )


def verify_report(result: VerifyResult) -> Report:
    rep = result.report
    notes = []
    if result.divergence is not None:
        notes.append(result.divergence.describe())
    notes += result.notes
    return Report(
        title=f"p2o verify: {rep.model}",
        verdict=rep.status,
        lines=[
            f"ONNX file: {result.onnx_file}",
            f"reference {rep.reference}; inputs: {result.inputs}; batches {result.batches}",
            f"tolerance {rep.tolerance:g} ({RULE})",
            *precision_lines(result),
        ],
        sections=[parity_table(rep)],
        notes=notes,
        summary=summary(rep),
    )
