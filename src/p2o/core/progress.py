"""Progress and human messages on stderr (never stdout: ``--json`` output stays parseable).

::

    from p2o.core import progress

    with progress.step("paddle2onnx"):
        ...
    with progress.task("release", total=len(models)) as t:
        for name in models:
            ...
            t.advance(name)
    progress.info("wrote dist/")

How it shows depends on where stderr goes and on the verbosity the CLI sets
(:func:`configure`; ``-q`` → -1, default 0, ``-v`` → 1):

- a terminal: a live line per running step (spinner, elapsed time) and a bar per task, drawn
  by ``rich``; a finished step leaves one line ``✓ name`` (with its time under ``-v``);
- not a terminal (CI logs, a pipe): plain lines, one when a step starts (``p2o: name …``),
  and under ``-v`` one more when it ends, with its time; a task logs each advance;
- ``-q``: nothing but errors.

The library is silent until something configures it (the CLI does): a Python caller sees
no output unless it calls :func:`configure`. ``$P2O_PROGRESS`` = ``live``, ``plain`` or
``off`` forces a mode (e.g. ``plain`` for worker processes sharing a terminal).

Ctrl-C is not caught here: the exception unwinds every step, the live display stops and
the CLI prints its one line.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

ENV_MODE = "P2O_PROGRESS"

_verbosity: int | None = None  # None: not configured → silent
_stream: TextIO | None = None  # None: sys.stderr at the time of the call
_depth = 0
_live: Any = None  # rich.progress.Progress while any step or task is open on a terminal
_open = 0


def configure(verbosity: int = 0, stream: TextIO | None = None) -> None:
    """Set the verbosity (-1 quiet, 0 normal, 1 verbose) and optionally the stream."""
    global _verbosity, _stream
    _verbosity = verbosity
    _stream = stream


def verbosity() -> int:
    return -1 if _verbosity is None else _verbosity


def _out() -> TextIO:
    return _stream if _stream is not None else sys.stderr


def mode() -> str:
    """``off``, ``plain`` or ``live``: what the next step will show."""
    if verbosity() < 0:
        return "off"
    forced = os.environ.get(ENV_MODE, "").strip().lower()
    if forced in ("off", "plain", "live"):
        return forced
    out = _out()
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "live" if tty and os.environ.get("TERM") != "dumb" else "plain"


def _console() -> Any:
    from rich.console import Console

    return Console(file=_out(), highlight=False, soft_wrap=True)


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:02.0f} s"


@contextlib.contextmanager
def _live_display() -> Iterator[Any]:
    """One shared rich Progress while any step or task is open (nested steps share it)."""
    global _live, _open
    if _live is None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class Count(MofNCompleteColumn):
            """``done/total`` of a counted task; nothing for a step (no known total)."""

            def render(self, task: Any) -> Text:
                return Text("") if task.total is None else super().render(task)

        _live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            Count(),
            TimeElapsedColumn(),
            console=_console(),
            transient=True,
        )
        _live.start()
    _open += 1
    try:
        yield _live
    finally:
        _open -= 1
        if _open == 0:
            live, _live = _live, None
            live.stop()


def _print(text: str) -> None:
    if _live is not None:
        _live.console.print(text, markup=False, highlight=False)
    else:
        out = _out()
        out.write(text + "\n")
        out.flush()


def info(message: str, level: int = 0) -> None:
    """A human message on stderr, shown when the verbosity is at least ``level``."""
    if verbosity() >= level:
        _print(message)


@dataclass
class Step:
    name: str
    seconds: float = 0.0


@contextlib.contextmanager
def step(name: str) -> Iterator[Step]:
    """A named long step; ``.seconds`` holds its duration after the block."""
    global _depth
    result = Step(name)
    m = mode()
    indent = "  " * _depth
    t0 = time.perf_counter()
    _depth += 1
    try:
        if m == "live":
            with _live_display() as live:
                task_id = live.add_task(f"{indent}{name}", total=None)
                try:
                    yield result
                finally:
                    live.remove_task(task_id)
        else:
            if m == "plain":
                _print(f"p2o: {indent}{name} …")
            yield result
    finally:
        _depth -= 1
        result.seconds = time.perf_counter() - t0
    # reached only when the block succeeded
    timing = f" ({_fmt_seconds(result.seconds)})" if verbosity() >= 1 else ""
    if m == "live":
        _print(f"{indent}✓ {name}{timing}")
    elif m == "plain" and timing:
        _print(f"p2o: {indent}{name} done{timing}")


@dataclass
class Task:
    """A counted loop (models of a release, batches of a verify)."""

    name: str
    total: int | None
    done: int = 0
    _mode: str = "off"
    _indent: str = ""
    _t0: float = field(default_factory=time.perf_counter)
    _live: Any = None
    _id: Any = None

    def advance(self, label: str = "", n: int = 1) -> None:
        self.done += n
        if self._mode == "live":
            desc = f"{self._indent}{self.name}" + (f": {label}" if label else "")
            self._live.update(self._id, advance=n, description=desc)
        elif self._mode == "plain":
            of = f"/{self.total}" if self.total is not None else ""
            what = f" {label}" if label else ""
            timing = ""
            if verbosity() >= 1:
                timing = f" ({_fmt_seconds(time.perf_counter() - self._t0)})"
            _print(f"p2o: {self._indent}{self.name} {self.done}{of}{what}{timing}")


@contextlib.contextmanager
def task(name: str, total: int | None = None) -> Iterator[Task]:
    """A loop with a counter: ``t.advance(label)`` after each item."""
    global _depth
    m = mode()
    t = Task(name, total, _mode=m, _indent="  " * _depth)
    _depth += 1
    try:
        if m == "live":
            with _live_display() as live:
                t._live = live
                t._id = live.add_task(f"{t._indent}{name}", total=total)
                try:
                    yield t
                finally:
                    live.remove_task(t._id)
        else:
            yield t
    finally:
        _depth -= 1
    if m == "live":
        timing = f" ({_fmt_seconds(time.perf_counter() - t._t0)})" if verbosity() >= 1 else ""
        _print(f"{t._indent}✓ {name} {t.done}{f'/{total}' if total else ''}{timing}")
