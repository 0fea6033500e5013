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
PUBLISHED_TITLE = "Published figures, other hardware"


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


def published_title(published: list[dict[str, Any]]) -> str:
    """``Published figures, other hardware: V100 TensorRT FP32 (…), not measured here``."""
    kinds = dict.fromkeys(
        f"{r.get('gpu', '?')} {r.get('engine', '?')} {r.get('precision', '?')}" for r in published
    )
    what = ", ".join(kinds) or "none for this model"
    return f"{PUBLISHED_TITLE}: {what} (PaddleClas model pages), not measured here"


def glance_table(result: BenchResult) -> Table:
    """Per batch size: measured p50 per runtime (measured figures only: published ones, from
    other hardware, are in their own section, never in a column beside these)."""
    measured = [f"{r} p50 ms (measured)" for r in result.runtimes]
    cols = ["bs", *measured]
    rows = []
    for b in result.batches:
        cells = {"bs": str(b)}
        for r, col in zip(result.runtimes, measured, strict=True):
            t = result.get(r, b)
            cells[col] = f(t.latency.p50_ms) if t and t.latency else (str(t.status) if t else "-")
        rows.append(Row(cells))
    return Table("At a glance: p50 per batch size (measured here)", cols, rows, [])


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
    return Table(published_title(result.published), cols, rows, notes, kind="published")


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
