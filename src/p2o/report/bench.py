"""``p2o bench``'s result as a report: the measured table, a glance per batch size, ratios,
the plot, and published figures (other hardware) labelled and apart."""

from __future__ import annotations

import math
from typing import Any

from p2o.core.results import PUBLISHED_LABEL, BenchResult, Status
from p2o.report.table import Figure, Image, Report, Row, Table, status_text

COLUMNS = [
    "runtime",
    "bs",
    "status",
    "build s",
    "first ms",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "mean ms",
    "min ms",
    "max ms",
    "IQR ms",
    "p90/p50",
    "img/s",
    "vs paddle",
]
PUBLISHED_TITLE = "Published figures (other hardware, not measured here)"


def f(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def measured_table(result: BenchResult, title: str = "Measured on this machine") -> Table:
    rows = []
    for t in result.timings:
        s = t.latency
        cells = {
            "runtime": t.runtime,
            "bs": str(t.batch),
            "status": status_text(t.status),
            "build s": f(t.build_seconds),
            "first ms": f(t.first_run_ms, ".1f"),
            "p50 ms": f(s.p50_ms if s else None),
            "p90 ms": f(s.p90_ms if s else None),
            "p99 ms": f(s.p99_ms if s else None),
            "mean ms": f(s.mean_ms if s else None),
            "min ms": f(s.min_ms if s else None),
            "max ms": f(s.max_ms if s else None),
            "IQR ms": f(s.iqr_ms if s else None),
            "p90/p50": f(s.spread if s else None),
            "img/s": f(s.throughput if s else None, ".1f"),
            "vs paddle": "-" if t.vs_reference is None else f"{t.vs_reference:.2f}x",
        }
        case = f"{t.runtime}[bs={t.batch}]"
        rows.append(Row(cells, t.status, case, t.reason, t.seconds))
    notes = []
    ratios = result.ratio_lines()
    if ratios:
        notes.append(
            f"latency p50 relative to {result.reference}, same interleaved run (<1 = faster): "
            + "; ".join(ratios)
        )
    return Table(
        title,
        list(COLUMNS),
        rows,
        notes,
        verdict=result.status,
        reason=result.reason,
        suite=f"p2o.bench.{result.model}",
    )


def _published_key(row: dict[str, Any]) -> str:
    return f"published {row.get('gpu', '?')} {row.get('engine', '?')} {row.get('precision', '?')}"


def glance_table(result: BenchResult) -> Table:
    """Per batch size: measured p50 per runtime, then the published figures beside them."""
    measured = [f"{r} p50 ms (measured)" for r in result.runtimes]
    keys = list(dict.fromkeys(_published_key(r) for r in result.published))
    cols = ["bs", *measured, *[f"{k} ms" for k in keys]]
    rows = []
    for b in result.batches:
        cells = {"bs": str(b)}
        for r, col in zip(result.runtimes, measured, strict=True):
            t = result.get(r, b)
            cells[col] = f(t.latency.p50_ms) if t and t.latency else (str(t.status) if t else "-")
        for k in keys:
            hit = [
                p for p in result.published if _published_key(p) == k and p.get("batch_size") == b
            ]
            cells[f"{k} ms"] = f(hit[0].get("latency_ms")) if hit else "-"
        rows.append(Row(cells))
    notes = (
        [f"Columns named 'published' are not measured here. {PUBLISHED_LABEL}"]
        if result.published
        else []
    )
    return Table("At a glance: p50 per batch size", cols, rows, notes)


def published_table(result: BenchResult) -> Table:
    rows = [
        Row(
            {
                "GPU": str(r.get("gpu", "?")),
                "engine": str(r.get("engine", "?")),
                "precision": str(r.get("precision", "?")),
                "bs": str(r.get("batch_size", "?")),
                "latency ms (published)": f(r.get("latency_ms")),
            }
        )
        for r in result.published
    ]
    notes = [PUBLISHED_LABEL]
    if not rows:
        notes.append("No published latency rows for this model.")
    cols = ["GPU", "engine", "precision", "bs", "latency ms (published)"]
    return Table(PUBLISHED_TITLE, cols, rows, notes, kind="published")


def header_lines(result: BenchResult) -> list[str]:
    m = result.machine
    env = ", ".join(f"{k}={v}" for k, v in (m.get("env") or {}).items())
    return [
        f"model {result.model}" + (f": {result.onnx_file}" if result.onnx_file else ""),
        f"machine: {result.cpu_label}, load average {m.get('loadavg_1_5_15')} before, "
        f"{m.get('loadavg_after')} after",
        f"threads: {result.threads} for every CPU engine; precision {result.precision}; "
        f"{result.timing_mode}",
        "environment: " + (env or "no thread settings"),
    ]


def bench_report(result: BenchResult, plot: str | None = None) -> Report:
    sections: list[Table | Image | Figure] = [glance_table(result), measured_table(result)]
    if plot:
        sections.append(Image(plot, "latency per runtime and batch size"))
    sections.append(published_table(result))
    c = {s: sum(t.status == s for t in result.timings) for s in Status}
    return Report(
        title=f"p2o bench: {result.model}",
        lines=header_lines(result),
        sections=sections,
        notes=list(result.notes),
        summary=(
            f"{'measured' if result.passed else 'FAILED'}: {c[Status.PASSED]} measured, "
            f"{c[Status.ERROR]} errors, {c[Status.SKIPPED]} skipped"
        ),
    )
