"""The one report model: tables of rows with a status, notes, a verdict, images and links.

A stage turns its typed result into a ``Report`` (``p2o.report.parity``, ``.bench``,
``.release``); the renderers (``text``, ``markdown``, ``html``, ``junit``) only draw it, so
every format says the same thing. A ``Table`` with a ``verdict`` is a check: JUnit writes it
as one test suite, each ``Row`` with a ``case`` name as one test case with the row's own
outcome (``status``) and time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from p2o.core.results import Status


@dataclass
class Row:
    """One line of a table. ``cells`` maps a column name to its text."""

    cells: dict[str, str]
    status: Status | None = None
    """The row's outcome as a check (colour, JUnit); None: a plain data row."""
    case: str = ""
    """JUnit test case name ("" : not a test case)."""
    reason: str = ""
    """Why the outcome is not ``passed``: shown under the table and in JUnit."""
    seconds: float | None = None
    links: dict[str, str] = field(default_factory=dict)
    """Column name → relative link of that cell."""
    cell_status: dict[str, Status] = field(default_factory=dict)
    """Column name → that cell's own outcome (a grid of models × runtimes), coloured."""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdict: Status | None = None
    """The check's verdict (``p2o.core.results.verdict`` of the stage); None: not a check."""
    reason: str = ""
    """Why the verdict is not ``passed``."""
    suite: str = ""
    """JUnit suite name (the title when empty)."""
    link: str | None = None
    """Where the title links to (a model's own report)."""
    reason_column: bool = True
    """Markdown/HTML add a ``reason`` column when a row has one."""
    kind: str = ""
    """A class for HTML styling (``published``: figures not measured here)."""


@dataclass
class Image:
    src: str
    alt: str


@dataclass
class Figure:
    """A chart drawn as inline SVG (``p2o.report.svg``): in the HTML page; other formats say
    where it is."""

    svg: str
    alt: str


@dataclass
class Report:
    """A page: title, facts, then tables and images in order, then the verdict line."""

    title: str
    verdict: Status | None = None
    lines: list[str] = field(default_factory=list)
    sections: list[Table | Image | Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    """The verdict line (``PASSED: 2 passed, 0 failed, ...``)."""
    provenance: dict[str, str] = field(default_factory=dict)
    """What produced it (``Provenance.facts()``): a section of Markdown/HTML, JUnit properties."""

    @property
    def tables(self) -> list[Table]:
        return [s for s in self.sections if isinstance(s, Table)]

    @property
    def images(self) -> list[Image]:
        return [s for s in self.sections if isinstance(s, Image)]


def status_text(status: Status | None) -> str:
    """How a status reads in a cell: upper case when it is bad."""
    if status is None:
        return "-"
    return status.upper() if status in (Status.FAILED, Status.ERROR) else str(status)


def verdict_word(status: Status | None) -> str:
    return "PASSED" if status is Status.PASSED else "FAILED"


def first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
