"""Markdown rendering (GitHub tables; links relative to the report)."""

from __future__ import annotations

from p2o.report.table import Figure, Image, Report, Row, Table, verdict_word


def _cell(r: Row, c: str) -> str:
    text = r.cells.get(c, "").replace("|", "/").replace("\n", " ")
    return f"[{text}]({r.links[c]})" if c in r.links else text


def table_lines(t: Table, level: int = 2) -> list[str]:
    cols = list(t.columns)
    with_reason = t.reason_column and any(r.reason for r in t.rows)
    if with_reason:
        cols.append("reason")
    out = []
    if t.title:
        title = f"[{t.title}]({t.link})" if t.link else t.title
        out += ["#" * level + " " + title, ""]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "---|" * len(cols))
    for r in t.rows:
        cells = {**r.cells, "reason": r.reason} if with_reason else r.cells
        out.append("| " + " | ".join(_cell(Row(cells, links=r.links), c) for c in cols) + " |")
    if t.notes:
        out += ["", *[f"- {n}" for n in t.notes]]
    return out


def render(report: Report) -> str:
    head = report.title
    if report.verdict is not None:
        head += f" — {verdict_word(report.verdict)}"
    out = [f"# {head}", ""]
    out += [f"- {line}" for line in report.lines]
    for s in report.sections:
        out.append("")
        if isinstance(s, Image):
            out.append(f"![{s.alt}]({s.src})")
        elif isinstance(s, Figure):
            out.append(f"*Figure: {s.alt} (drawn in the HTML report).*")
        else:
            out += table_lines(s)
    if report.notes:
        out += ["", *[f"- note: {n}" for n in report.notes]]
    if report.summary:
        out += ["", f"**{report.summary}**"]
    if report.provenance:
        out += ["", "## Provenance", "", "| | |", "|---|---|"]
        out += [f"| {k} | {v.replace('|', '/')} |" for k, v in report.provenance.items()]
    return "\n".join(out) + "\n"
