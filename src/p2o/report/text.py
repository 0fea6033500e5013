"""Terminal rendering: aligned plain-text columns (what a log or a pipe shows, too)."""

from __future__ import annotations

from p2o.report.table import Figure, Image, Report, Table


def table_lines(t: Table) -> list[str]:
    cols = t.columns
    widths = {c: max([len(c), *(len(r.cells.get(c, "")) for r in t.rows)]) for c in cols}
    out = [t.title] if t.title else []
    out.append("  ".join(c.ljust(widths[c]) for c in cols).rstrip())
    out.append("  ".join("-" * widths[c] for c in cols))
    out += ["  ".join(r.cells.get(c, "").ljust(widths[c]) for c in cols).rstrip() for r in t.rows]
    out += [f"  {line}" for line in reason_lines(t)]
    out += [f"note: {n}" for n in t.notes]
    return out


def reason_lines(t: Table) -> list[str]:
    """``cases: status: reason``, rows with the same status and reason on one line."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in t.rows:
        if r.reason:
            status = str(r.status) if r.status is not None else ""
            grouped.setdefault((status, r.reason), []).append(
                r.case or r.cells.get(t.columns[0], "")
            )
    return [
        f"{', '.join(cases)}: {status + ': ' if status else ''}{reason}"
        for (status, reason), cases in grouped.items()
    ]


def render(report: Report) -> str:
    lines = [report.title, *report.lines]
    for s in report.sections:
        if isinstance(s, Image):
            lines.append(f"plot: {s.src}")
        elif isinstance(s, Figure):
            continue  # a picture: in the HTML report
        else:
            lines += table_lines(s)
    lines += [f"note: {n}" for n in report.notes]
    if report.summary:
        lines.append(report.summary)
    return "\n".join(lines)
