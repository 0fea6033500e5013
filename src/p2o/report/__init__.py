"""One report layer: a typed result → a ``Report`` (tables, notes, verdict) → terminal text,
Markdown, HTML or JUnit. Used by verify, bench and release; nothing else renders reports.

``write(path, report)`` picks the format by suffix (``.md``, ``.html``/``.htm``, ``.xml``)
and writes atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from p2o.core.errors import UsageError
from p2o.core.files import write_atomic as _write
from p2o.report import html, junit, markdown, text
from p2o.report.table import Image, Report, Row, Table

__all__ = ["Image", "Report", "Row", "Table", "html", "junit", "markdown", "render", "text"]

SUFFIXES = {".md": "markdown", ".html": "html", ".htm": "html", ".xml": "junit"}


def render(report: Report, fmt: str) -> str:
    if fmt == "text":
        return text.render(report)
    if fmt == "markdown":
        return markdown.render(report)
    if fmt == "html":
        return html.render(report)
    if fmt == "junit":
        return junit.render(report).decode()
    raise ValueError(f"unknown report format {fmt!r}")


def check_path(path: str | Path, allowed: tuple[str, ...] = (".md", ".html", ".htm")) -> str:
    """The format for ``path`` by its suffix, or UsageError."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        names = " or ".join(s for s in allowed if s != ".htm")
        raise UsageError(f"--report {path}: the name must end in {names}")
    return SUFFIXES[suffix]


def write_atomic(path: str | Path, data: str | bytes) -> None:

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _write(p, data.encode() if isinstance(data, str) else data)


def link(target: str | Path | None, page: str | Path) -> str | None:
    """``target`` relative to the folder of ``page`` (a picture linked from a report)."""
    if target is None:
        return None
    return os.path.relpath(Path(target).resolve(), Path(page).resolve().parent)


def write(path: str | Path, report: Report) -> None:
    """Write ``report`` as Markdown or HTML (by suffix), whole or not at all."""
    write_atomic(path, render(report, check_path(path)))
