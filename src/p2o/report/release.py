"""A release as reports: the release page (every model, per runtime and batch size, with the
numbers, latency and links) and each model's own page. Links are relative and stay in DIST."""

from __future__ import annotations

import dataclasses

from p2o.bench.precisions import SEPARATOR, speedups
from p2o.core.results import (
    AgreementComparison,
    ModelRecord,
    ReleaseSummary,
    RuntimeResult,
    Status,
    verdict,
)
from p2o.report import svg
from p2o.report.bench import bench_report, measured_table
from p2o.report.layers import layer_error_table
from p2o.report.parity import COLUMNS, fmt, runtime_row, worst_output
from p2o.report.precision import best_reduced, precision_table
from p2o.report.table import Figure, Image, Report, Row, Table, first_line, status_text

FILES = ("model.onnx", "manifest.json", "golden.npz", "bench.png", "record.json", "paddle2onnx.log")


def _stage_row(name: str, status: Status, reason: str, seconds: float | None) -> Row:
    return Row({"runtime": name, "status": status_text(status)}, status, name, reason, seconds)


def stage_rows(rec: ModelRecord) -> list[Row]:
    """Convert, each runtime and batch size, bench: one row (and JUnit case) each."""
    secs = rec.stage_seconds
    bad = rec.status is not Status.PASSED
    if rec.stage == "worker":
        return [_stage_row("worker", rec.status, rec.reason, None)]
    if rec.stage == "convert" and bad:
        return [_stage_row("convert", rec.status, rec.reason, secs.get("convert"))]
    rows = [_stage_row("convert", Status.PASSED, "", secs.get("convert"))]
    if rec.verify is not None:
        strict = rec.verify.report.strict
        rows += [runtime_row(r, strict) for r in rec.verify.report.results]
    elif rec.stage == "verify" and bad:
        rows.append(_stage_row("verify", rec.status, rec.reason, secs.get("verify")))
    if rec.bench is not None:
        rows.append(_stage_row("bench", rec.bench.status, rec.bench.reason, secs.get("bench")))
    elif rec.stage == "bench" and bad:
        rows.append(_stage_row("bench", rec.status, rec.reason, secs.get("bench")))
    return rows


def model_table(rec: ModelRecord, link: str | None = None) -> Table:
    reason = f"{rec.stage}: {rec.reason}" if rec.stage and rec.reason else rec.reason
    return Table(
        title=rec.model,
        columns=list(COLUMNS),
        rows=stage_rows(rec),
        verdict=rec.status,
        reason=reason,
        suite=f"p2o.release.{rec.model}",
        link=link,
    )


def _results(rec: ModelRecord) -> list[RuntimeResult]:
    return rec.verify.report.results if rec.verify is not None else []


def summary_row(rec: ModelRecord, reduced: bool = False) -> Row:
    """One model's row of the release table; ``reduced``: with the best reduced precision."""
    results = _results(rec)
    tols = [r.min_tolerance for r in results if r.min_tolerance is not None]
    outs = [o for o in (worst_output(r) for r in results) if o is not None]
    cos = [o.cosine_similarity for o in outs if o.cosine_similarity is not None]
    abs_ = [o.max_abs_error for o in outs if o.max_abs_error is not None]
    s = rec.stage_seconds
    state = "up to date (resumed)" if rec.skipped_resume else status_text(rec.status)
    cells = {
        "model": rec.model,
        "status": state,
        "max abs": fmt(max(abs_) if abs_ else None),
        "min tol": fmt(max(tols) if tols else None),
        "min cosine": fmt(min(cos) if cos else None, ".7f"),
        "nodes": " → ".join(str(v) for v in rec.node_counts.values()) or "-",
        "convert s": fmt(s.get("convert"), ".1f"),
        "verify s": fmt(s.get("verify"), ".1f"),
        "bench s": fmt(s.get("bench"), ".1f"),
        "total s": fmt(s.get("total"), ".1f"),
        "peak MB": f"{max(rec.stage_peak_rss_mb.values(), default=0):.0f}",
    }
    if reduced:
        cells["best reduced precision"] = best_reduced(rec) if rec.precisions else "-"
    reason = first_line(f"{rec.stage}: {rec.reason}" if rec.stage else rec.reason, 200)
    return Row(cells, rec.status, "", reason if rec.reason else "", None, {"model": _page(rec)})


def _page(rec: ModelRecord) -> str:
    return f"{rec.model}/report.html"


def _counts_line(summary: ReleaseSummary) -> str:
    c = summary.counts
    word = "PASSED" if summary.passed else "FAILED"
    return (
        f"{word}: {c['passed']} passed, {c['failed']} failed, {c['error']} errors; "
        f"{summary.seconds} s"
    )


def _bench_sections(rec: ModelRecord, prefix: str) -> list[Table | Image | Figure]:
    if rec.bench is None:
        return []
    t = measured_table(rec.bench, f"{rec.model}: latency (ms, this machine)")
    out: list[Table | Image | Figure] = [dataclasses.replace(t, verdict=None)]
    if rec.bench_plot:
        out.append(Image(prefix + rec.bench_plot, f"{rec.model}: latency per runtime and batch"))
    return out


def release_report(summary: ReleaseSummary) -> Report:
    """The release page: a row per model, then per model its table, latency and plot."""
    o = summary.options or {}
    lines = []
    if o:
        batches = ", ".join(str(b) for b in o.get("batches") or [])
        lines.append(
            f"tolerance {o.get('tolerance')}; runtimes {', '.join(o.get('runtimes', []))}; "
            f"batch sizes {batches}; strict: {_yes(o.get('strict'))}; "
            f"bench: {_yes(o.get('bench'))}"
        )
    if summary.tools:
        lines.append("tools: " + ", ".join(f"{k} {v}" for k, v in summary.tools.items()))
    lines.append("each model's own report: its name in the tables below; checksums: SHA256SUMS")
    reduced = any(r.precisions for r in summary.models)
    rows = [summary_row(r, reduced) for r in summary.models]
    cols = list(rows[0].cells) if rows else ["model"]
    sections: list[Table | Image | Figure] = [grid(summary)] if summary.models else []
    sections += charts(summary)
    sections.append(Table("Models", cols, rows))
    for rec in summary.models:
        sections.append(model_table(rec, link=_page(rec)))
        sections += [t for t in (precision_table(rec),) if t is not None]
        sections += _bench_sections(rec, f"{rec.model}/")
    return Report(
        title="p2o release",
        verdict=summary.status,
        lines=lines,
        sections=sections,
        summary=_counts_line(summary),
        provenance={} if summary.provenance is None else summary.provenance.facts(),
    )


def _yes(value: object) -> str:
    return "yes" if value else "no"


def _columns(summary: ReleaseSummary) -> list[tuple[str, str]]:
    """(runtime, precision) of every verified result, runtimes in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for rec in summary.models:
        for p, v in [("fp32", rec.verify), *rec.precisions.items()]:
            for r in [] if v is None else v.report.results:
                seen[(r.runtime, p)] = None
    return list(seen)


def grid(summary: ReleaseSummary) -> Table:
    """Models × runtimes (× precision): each cell the worst status over the batch sizes and its
    min tol (fp32) or mean cosine (reduced precision), the model linking to its page."""
    cols = _columns(summary)
    names = {c: c[0] if c[1] == "fp32" else f"{c[0]} {c[1]}" for c in cols}
    rows = []
    for rec in summary.models:
        cells, states = {"model": rec.model}, {}
        verifies = {"fp32": rec.verify, **rec.precisions}
        for col in cols:
            v = verifies.get(col[1])
            results = [] if v is None else [r for r in v.report.results if r.runtime == col[0]]
            if not results:
                cells[names[col]] = "-" if rec.status is Status.PASSED else status_text(rec.status)
                continue
            state = verdict(r.status for r in results)
            if all(r.status is Status.SKIPPED for r in results):
                state = Status.SKIPPED
            cells[names[col]] = f"{status_text(state)} {_figure(results, col[1])}".strip()
            states[names[col]] = state
        rows.append(Row(cells, None, "", "", None, {"model": _page(rec)}, states))
    return Table(
        "Models × runtimes",
        ["model", *names.values()],
        rows,
        notes=[
            "fp32 cells: the largest min tol over the batch sizes (the smallest tolerance that "
            "passes); reduced precision: the lowest mean cosine against Paddle fp32"
        ],
    )


def _figure(results: list[RuntimeResult], precision: str) -> str:
    if precision == "fp32":
        tols = [r.min_tolerance for r in results if r.min_tolerance is not None]
        return fmt(max(tols)) if tols else ""
    cos = [
        o.agreement.cosine
        for r in results
        for o in r.outputs
        if isinstance(o, AgreementComparison) and o.agreement is not None
    ]
    return f"cos {min(cos):.4f}" if cos else ""


def charts(summary: ReleaseSummary) -> list[Table | Image | Figure]:
    """The latency across models (when bench ran) and speed-up vs accuracy cost (precisions)."""
    out: list[Table | Image | Figure] = []
    rows, states = [], []
    for rec in summary.models:
        if rec.bench is None:
            continue
        for t in rec.bench.timings:
            if t.batch == min(rec.bench.batches) and SEPARATOR not in t.runtime:
                p50 = None if t.latency is None else t.latency.p50_ms
                rows.append((f"{rec.model} {t.runtime}", p50))
                states.append(t.status)
    if rows:
        chart = svg.bars("latency per model and runtime, p50, smallest batch", rows, "ms", states)
        out.append(Figure(chart, "p50 latency of every model on every runtime (this machine)"))
    points: list[tuple[str, float, float, Status | None]] = []
    rules = set()
    for rec in summary.models:
        speed = speedups(rec.bench) if rec.bench is not None else {}
        for p, v in rec.precisions.items():
            rules |= {r for r in v.precision.rules.values() if r is not None}
            for r in v.report.results:
                x = speed.get(r.batch or 1, {}).get(f"{r.runtime}{SEPARATOR}{p}")
                cos = [
                    o.agreement.cosine
                    for o in r.outputs
                    if isinstance(o, AgreementComparison) and o.agreement is not None
                ]
                if x is not None and cos:
                    points.append((f"{rec.model} {r.runtime} {p}", x, min(cos), r.status))
    if points:
        rule = min(rules, key=lambda r: r.min_cosine, default=None)
        floor = (
            None
            if rule is None
            else (f"{rule.precision} rule: mean cosine >= {rule.min_cosine:g}", rule.min_cosine)
        )
        chart = svg.scatter(
            "speed-up vs accuracy cost",
            points,
            "speed-up vs the runtime's fp32 (same interleaved run)",
            "mean cosine against Paddle fp32",
            floor,
        )
        out.append(Figure(chart, "each reduced precision's speed-up against its mean cosine"))
    return out


def model_report(rec: ModelRecord, files: list[str] | None = None) -> Report:
    """One model's page (``DIST/<model>/report.md`` and ``report.html``); ``files``: the
    artifacts beside it to link (default: those in the record)."""
    s = rec.stage_seconds
    lines = [
        f"status: {status_text(rec.status)}"
        + (f" ({rec.stage}: {first_line(rec.reason, 300)})" if rec.reason else ""),
        f"weights: {rec.weights}"
        + (f" (sha256 {rec.weights_sha256})" if rec.weights_sha256 != rec.weights else ""),
        "stage seconds: " + ", ".join(f"{k} {v}" for k, v in s.items() if "." not in k),
    ]
    if rec.node_counts:
        lines.append(
            "ONNX nodes after each stage: "
            + ", ".join(f"{k} {v}" for k, v in rec.node_counts.items())
        )
    notes: list[str] = []
    if rec.verify is not None:
        v = rec.verify
        lines.append(
            f"reference {v.report.reference}; inputs: {v.inputs}; batches {v.batches}; "
            f"tolerance {v.report.tolerance:g}"
        )
        if v.divergence is not None:
            notes.append(v.divergence.describe())
        notes += v.notes
    sections: list[Table | Image | Figure] = [model_table(rec)]
    sections += [t for t in (precision_table(rec),) if t is not None]
    sections += [  # e.g. an INT8 the accuracy-aware pass gave up on: which nodes cost what
        layer_error_table(v.layer_errors)
        for v in rec.precisions.values()
        if v.layer_errors is not None
    ]
    if rec.bench is not None:
        page = bench_report(rec.bench, rec.bench_plot)
        sections += [dataclasses.replace(t, verdict=None) for t in page.tables[:2]]
        sections += page.images
        sections += page.tables[2:]
    present = rec.artifacts if files is None else files
    sections.append(
        Table(
            "Files",
            ["file"],
            [Row({"file": f}, links={"file": f}) for f in FILES if f in present]
            + [  # the other precisions' artifacts (p2o release --precision fp32,int8)
                Row({"file": f}, links={"file": f})
                for v in rec.precisions.values()
                if "/" in v.onnx_file  # bf16 runs the fp32 file: no artifact of its own
                for f in (v.onnx_file, v.onnx_file.rsplit("/", 1)[0] + "/manifest.json")
            ]
            + [Row({"file": "the release report"}, links={"file": "../report.html"})],
        )
    )
    return Report(
        title=f"p2o release: {rec.model}",
        verdict=rec.status,
        lines=lines,
        sections=sections,
        notes=notes,
    )
