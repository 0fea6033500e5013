"""Verify's reports, drawn by the one report layer (``p2o.report``) from the typed result."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from p2o import report as rep
from p2o.report.parity import verify_report
from p2o.results import VerifyResult


def table(result: VerifyResult) -> str:
    """The terminal table."""
    return rep.text.render(verify_report(result))


def junit(results_by_model: Iterable[VerifyResult]) -> bytes:
    """JUnit XML: one test suite per model, one test case per runtime and batch size."""
    return rep.junit.render([verify_report(r) for r in results_by_model])


def markdown(result: VerifyResult) -> str:
    return rep.markdown.render(verify_report(result))


def html_page(result: VerifyResult) -> str:
    return rep.html.render(verify_report(result))


def write_text_atomic(path: str | Path, text: str | bytes) -> None:
    rep.write_atomic(path, text)


def write_report(path: str | Path, result: VerifyResult) -> None:
    """A Markdown or HTML report, by suffix (anything else is Markdown)."""
    fmt = "html" if Path(path).suffix.lower() in (".html", ".htm") else "markdown"
    rep.write_atomic(path, rep.render(verify_report(result), fmt))
