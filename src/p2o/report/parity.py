"""``p2o verify``'s result as a report: one row per runtime and batch size, every number."""

from __future__ import annotations

import dataclasses
from typing import Any

from p2o.core.results import (
    AgreementComparison,
    OutputComparison,
    ParityReport,
    RuntimeResult,
    Status,
    VerifyResult,
    verdict,
)
from p2o.report import svg
from p2o.report.layers import layer_error_tables
from p2o.report.precision import precision_lines
from p2o.report.table import Figure, Report, Row, Table, status_text

# The element-wise rule's columns: ``min tol`` decides; the others are diagnostics (every
# figure, max rel and mean abs included, is in the JSON).
COLUMNS = [
    "runtime",
    "batch",
    "status",
    "min tol",
    "max abs",
    "cosine",
    "top-1",
    "top-5",
    "worst at",
]
# A reduced precision's columns: its agreement rule's own measures (p2o.parity.acceptance).
AGREEMENT_COLUMNS = [
    "runtime",
    "batch",
    "status",
    "precision",
    "mean cosine",
    "min cosine",
    "top-1 agree",
    "top-5 contain",
    "range error",
    "samples",
]
RULE = "per element |a-r| <= tol * max(|r|, 0.1*max|r|)"
DIAGNOSTICS = (
    "min tol is the verdict's measure (the smallest tolerance that passes); max abs, cosine, "
    "top-1/top-5 agreement are diagnostics, not part of the verdict"
)


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
        "min tol": fmt(r.min_tolerance),
        "max abs": num("max_abs_error"),
        "cosine": num("cosine_similarity", ".7f"),
        "top-1": num("top1_agreement", ".0%"),
        "top-5": num("top5_agreement", ".0%"),
        "worst at": "-" if o is None or o.worst_index is None else str(list(o.worst_index)),
    }
    seconds = r.seconds if r.seconds is not None else r.build_seconds
    case = r.runtime if batch is None else f"{r.runtime}[bs={batch}]"
    return Row(cells, status, case, reason, seconds)


def agreement_row(r: RuntimeResult, strict: bool) -> Row:
    """A reduced-precision row: the agreement rule's measures of its least agreeing output."""
    judged = [o for o in r.outputs if isinstance(o, AgreementComparison) and o.agreement]
    worst = min(judged, key=lambda o: o.agreement.cosine if o.agreement else 1.0, default=None)
    m = None if worst is None else worst.agreement
    status, cell, reason = outcome(r, strict)

    def num(name: str, spec: str) -> str:
        return "-" if m is None else fmt(getattr(m, name), spec)

    cells = {
        "runtime": r.runtime,
        "batch": "-" if r.batch is None else str(r.batch),
        "status": cell,
        "precision": "-" if worst is None else worst.precision,
        "mean cosine": num("cosine", ".5f"),
        "min cosine": num("min_cosine", ".5f"),
        "top-1 agree": num("top1", ".1%"),
        "top-5 contain": num("top5", ".1%"),
        "range error": num("range_error", ".3g"),
        "samples": "-" if m is None else str(m.samples),
    }
    seconds = r.seconds if r.seconds is not None else r.build_seconds
    case = r.runtime if r.batch is None else f"{r.runtime}[bs={r.batch}]"
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
        notes=[DIAGNOSTICS] if rep.results else [],
    )


def _reduced(result: VerifyResult) -> set[str]:
    """The runtimes judged by an agreement rule (a reduced precision), not element-wise."""
    return {name for name, rule in result.precision.rules.items() if rule is not None}


def verify_tables(result: VerifyResult) -> list[Table]:
    """One table per rule: element-wise rows, then the reduced-precision rows in the columns of
    their agreement rule. Each is a check (a JUnit suite) with the verdict of its rows."""
    rep = result.report
    reduced = _reduced(result)
    if not reduced:
        return [parity_table(rep)]
    plain = [r for r in rep.results if r.runtime not in reduced]
    judged = [r for r in rep.results if r.runtime in reduced]
    tables = []
    if plain:
        t = parity_table(dataclasses.replace(rep, results=plain), "fp32, element-wise rule")
        t.verdict = verdict((r.status for r in plain), strict=rep.strict)
        tables.append(t)
    rules = sorted(
        {rule.precision for n, rule in result.precision.rules.items() if rule and n in reduced}
    )
    tables.append(
        Table(
            title=f"{', '.join(rules)}: the agreement rule's measures",
            columns=list(AGREEMENT_COLUMNS),
            rows=[agreement_row(r, rep.strict) for r in judged],
            verdict=verdict((r.status for r in judged), strict=rep.strict),
            reason=rep.reason,
            suite=f"p2o.verify.{rep.model}.{'.'.join(rules)}",
            notes=["element-wise figures of these runtimes are in the JSON (diagnostics)"],
        )
    )
    return tables


def error_figure(result: VerifyResult) -> Figure | None:
    """Where each runtime's error lies against the threshold that judges it, log scale."""
    rep, reduced = result.report, _reduced(result)
    plain = [r for r in rep.results if r.runtime not in reduced]
    judged = [r for r in rep.results if r.runtime in reduced]
    if plain:
        rows = [(_label(r), r.min_tolerance, r.status) for r in plain]
        chart = svg.log_strip(
            "error per runtime (min tol) against the tolerance",
            rows,
            [("tolerance", rep.tolerance)],
            unit="min tol: the smallest tolerance that passes",
        )
        return Figure(chart, "each runtime's min tol against --tolerance, log scale")
    if judged:
        limit = min(
            (rule.max_range_error for rule in result.precision.rules.values() if rule),
            default=0.0,
        )
        rows = [(_label(r), _range_error(r), r.status) for r in judged]
        chart = svg.log_strip(
            "largest error over the logit range, per runtime",
            rows,
            [("rule's limit", limit)],
            unit="max |a-r| / logit range",
        )
        return Figure(chart, "each runtime's range error against the agreement rule's limit")
    return None


def _label(r: RuntimeResult) -> str:
    return r.runtime if r.batch is None else f"{r.runtime} bs={r.batch}"


def _range_error(r: RuntimeResult) -> float | None:
    values = [
        o.agreement.range_error
        for o in r.outputs
        if isinstance(o, AgreementComparison) and o.agreement is not None
    ]
    return max(values) if values else None


def noise_lines(result: VerifyResult, tables: list[Table]) -> list[str]:
    """The noise floor beside every verdict: a ``vs noise`` column in the element-wise table
    (the error in multiples of the floor), each runtime's worst error in words, and the same
    words in a failed row's reason (so JUnit's failure message carries them)."""
    floor = result.noise_floor
    if floor is None:
        return []
    reduced = _reduced(result)
    worst: dict[str, RuntimeResult] = {}
    for r in result.report.results:
        if r.runtime in reduced or r.min_tolerance is None:
            continue
        if r.runtime not in worst or r.min_tolerance > (worst[r.runtime].min_tolerance or 0.0):
            worst[r.runtime] = r
    for t in tables:
        if "min tol" not in t.columns:
            continue
        t.columns.insert(t.columns.index("min tol") + 1, "vs noise")
        plain = [r for r in result.report.results if r.runtime not in reduced]
        for row, r in zip(t.rows, plain, strict=True):
            row.cells["vs noise"] = floor.short(r.min_tolerance)
            if row.status in (Status.FAILED, Status.ERROR) and r.min_tolerance is not None:
                row.reason = "; ".join(x for x in (row.reason, floor.judge(r.min_tolerance)) if x)
    return [f"noise floor {floor.value:.1e}: {floor.detail}"] + [
        f"{name}: {floor.judge(r.min_tolerance, r.status is Status.PASSED)}"
        for name, r in worst.items()
    ]


def verify_report(result: VerifyResult) -> Report:
    rep = result.report
    notes = []
    if result.divergence is not None:
        notes.append(result.divergence.describe())
    notes += result.notes
    figure = error_figure(result)
    tables = verify_tables(result)
    noise = noise_lines(result, tables)
    tolerance = (
        [f"tolerance {rep.tolerance:g} ({RULE})"]
        if len(_reduced(result)) < len({r.runtime for r in rep.results}) or not rep.results
        else []
    )
    return Report(
        title=f"p2o verify: {rep.model}",
        verdict=rep.status,
        lines=[
            f"ONNX file: {result.onnx_file}",
            f"reference {rep.reference}; inputs: {result.inputs}; batches {result.batches}",
            *tolerance,
            *noise,
            *precision_lines(result),
        ],
        sections=[
            *tables,
            *([figure] if figure else []),
            *layer_error_tables(result),  # --precision-debug
        ],
        notes=notes,
        summary=summary(rep),
        provenance={
            **({} if result.provenance is None else result.provenance.facts()),
            **({"noise floor": noise[0]} if noise else {}),  # also a JUnit suite property
        },
    )
