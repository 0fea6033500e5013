"""HTML rendering: one self-contained page (inline style; images and links relative)."""

from __future__ import annotations

import html

from p2o.core.results import Status
from p2o.report.table import Figure, Image, Report, Row, Table, verdict_word

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.4em 0 1em}"
    "td,th{border:1px solid #bbb;padding:3px 7px;font-size:13px;text-align:left}"
    "td{white-space:nowrap}"
    "th{background:#f0f0f0}tr.passed{background:#e3f6e6}tr.failed,tr.error{background:#fbdada}"
    "tr.skipped{background:#f3f3f3;color:#666}h1.passed{color:#17692b}h1.failed{color:#a30d0d}"
    "td.reason{max-width:48em;font-size:12px;white-space:normal}"
    "img{max-width:100%;border:1px solid #ddd}"
    ".notes{color:#555;font-size:13px}table.published td{color:#555;font-style:italic}"
    "td.passed{background:#cdeccf}td.failed,td.error{background:#f6c4c4}"
    "td.skipped{background:#eee;color:#666}figure{margin:.5em 0 1.2em}"
    "figcaption{font-size:12px;color:#555}table.provenance td{white-space:normal;font-size:12px}"
)
CLASS = {
    Status.PASSED: "passed",
    Status.FAILED: "failed",
    Status.ERROR: "error",
    Status.SKIPPED: "skipped",
}


def _cell(r: Row, c: str) -> str:
    text = html.escape(r.cells.get(c, ""))
    if c in r.links:
        text = f"<a href='{html.escape(r.links[c], quote=True)}'>{text}</a>"
    cls = " class='reason'" if c == "reason" else ""
    if c in r.cell_status:
        cls = f" class='{CLASS[r.cell_status[c]]}'"
    return f"<td{cls}>{text}</td>"


def table_html(t: Table, level: int = 2) -> str:
    esc = html.escape
    cols = list(t.columns)
    with_reason = t.reason_column and any(r.reason for r in t.rows)
    if with_reason:
        cols.append("reason")
    parts = []
    if t.title:
        title = esc(t.title)
        if t.link:
            title = f"<a href='{esc(t.link, quote=True)}'>{title}</a>"
        if t.verdict is not None:
            title += f" — {verdict_word(t.verdict)}"
        parts.append(f"<h{level}>{title}</h{level}>")
    kind = f" class='{esc(t.kind)}'" if t.kind else ""
    parts.append(f"<table{kind}><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>")
    for r in t.rows:
        cells = {**r.cells, "reason": r.reason} if with_reason else r.cells
        row = Row(cells, links=r.links, cell_status=r.cell_status)
        cls = f" class='{CLASS[r.status]}'" if r.status is not None else ""
        parts.append(f"<tr{cls}>" + "".join(_cell(row, c) for c in cols) + "</tr>")
    parts.append("</table>")
    if t.notes:
        parts.append(
            "<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in t.notes) + "</ul>"
        )
    return "".join(parts)


def render(report: Report) -> str:
    esc = html.escape
    head = esc(report.title)
    cls = ""
    if report.verdict is not None:
        head += f" — {verdict_word(report.verdict)}"
        cls = f" class='{'passed' if report.verdict is Status.PASSED else 'failed'}'"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(report.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1{cls}>{head}</h1>",
    ]
    if report.summary:
        parts.append(f"<p><b>{esc(report.summary)}</b></p>")
    if report.lines:
        parts.append("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in report.lines) + "</ul>")
    for s in report.sections:
        if isinstance(s, Image):
            parts.append(f"<p><img src='{esc(s.src, quote=True)}' alt='{esc(s.alt)}'></p>")
        elif isinstance(s, Figure):
            parts.append(f"<figure>{s.svg}<figcaption>{esc(s.alt)}</figcaption></figure>")
        else:
            parts.append(table_html(s))
    if report.notes:
        parts.append(
            "<ul class='notes'>" + "".join(f"<li>note: {esc(n)}</li>" for n in report.notes)
        )
        parts.append("</ul>")
    if report.provenance:
        rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in report.provenance.items()
        )
        parts.append(f"<h2>Provenance</h2><table class='provenance'>{rows}</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
