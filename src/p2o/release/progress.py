"""One line per finished model on stderr (a live bar on a terminal), via ``p2o.core.progress``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from p2o.core import progress
from p2o.core.results import ModelRecord, Status
from p2o.report.table import first_line


def line(rec: ModelRecord) -> str:
    secs = rec.stage_seconds.get("total", 0.0)
    state = "up to date (resumed)" if rec.skipped_resume else str(rec.status)
    text = f"{rec.model}: {state} ({secs:.0f}s)"
    if rec.status is not Status.PASSED and rec.reason:
        where = f"{rec.stage}: " if rec.stage else ""
        text += f" — {where}{first_line(rec.reason)}"
    return text


@contextlib.contextmanager
def models(total: int) -> Iterator[progress.Task]:
    """``t.advance(line(rec))`` after each model."""
    with progress.task("release", total=total) as t:
        yield t


def report(task: progress.Task, rec: ModelRecord) -> None:
    task.advance(line(rec))
    if progress.mode() == "live":  # the bar shows the latest only; keep every model's line
        progress.info(f"[{task.done}/{task.total}] {line(rec)}")
