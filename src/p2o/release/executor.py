"""Run the models of a plan: one fresh process per model (paddle2onnx and Paddle are not safe
to share in one process), ``jobs`` at a time; ``jobs=0`` runs them in this process (tests,
debugging).

A worker that dies (a segfault, SIGKILL, running out of memory) becomes an ``error`` record
(stage ``worker``); the others go on. SIGINT or SIGTERM stops the workers (SIGTERM first, so
they remove their temporary folders; SIGKILL for one that does not stop in time), removes the
work directories and re-raises. A worker's ``$TMPDIR`` is a folder of the driver's, removed once
every worker exited: one killed in the middle leaves nothing behind either.

A signal to the whole process group (``timeout``, Ctrl-C in a terminal) reaches the workers
too, at any moment, also inside Paddle, which may re-raise or wrap the exception. So the driver
owns the clean-up: a worker's first SIGTERM or SIGINT silences it and unwinds it, later ones are
ignored, and it neither publishes nor reports once told to stop
(``p2o.core.signals.install_worker``); the driver ignores further signals while it stops its
workers and removes ``DIST/.work``, after they exited. A worker starts with SIGINT ignored (one
while it imports would print a traceback) until its handlers are set.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection as mpc
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from p2o.core import signals
from p2o.core.files import temporary_folder
from p2o.core.results import ModelRecord, Status
from p2o.release.plan import ReleaseOptions
from p2o.release.worker import WORK, build_model, worker_main
from p2o.zoo import model_info

Done = Callable[[ModelRecord], None]
STOP_SECONDS = 20.0  # how long stopped workers get to clean up before SIGKILL


def crashed(name: str, why: str, seconds: float = 0.0) -> ModelRecord:
    rec = ModelRecord(name, Status.ERROR, f"worker died: {why}", stage="worker")
    rec.stage_seconds["total"] = round(seconds, 2)
    return rec


def oom_kills(vmstat: Path = Path("/proc/vmstat")) -> int | None:
    """How many processes the kernel's out-of-memory killer has killed (Linux); None unknown."""
    try:
        for row in vmstat.read_text().splitlines():
            if row.startswith("oom_kill "):
                return int(row.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code} without a record"


def _why_died(code: int | None, oom_kills_before: int | None) -> str:
    """How a worker died; a SIGKILL while the kernel's out-of-memory killer killed is named."""
    text = _exit_text(code)
    now = oom_kills()
    if code == -signal.SIGKILL and now is not None and oom_kills_before is not None:
        if now > oom_kills_before:
            text += " from the kernel's out-of-memory killer (fewer --jobs, more memory)"
    return text


STOPPED = 143  # a worker's exit status once a signal stopped it (it sends nothing)


def _child(conn: Any, args: tuple[str, str | None, dict[str, Any], str], tmp: str) -> None:
    """A worker process: one model, its record (or why not) sent back; nothing once stopped.
    Its temporary folders and its children's go under ``tmp``, which the driver removes once
    every worker exited (one killed before it removed its own leaves nothing either)."""
    signals.install_worker()  # SIGINT was ignored until here (see _held)
    os.environ["TMPDIR"] = tempfile.tempdir = tmp
    try:
        message: tuple[str, Any] = ("record", worker_main(args))
    except BaseException as exc:
        message = ("raised", f"{type(exc).__name__}: {exc}")
    if signals.stopping():  # whatever Paddle made of the signal: the driver cleans up
        raise SystemExit(STOPPED)
    try:
        conn.send(message)
    finally:
        conn.close()


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """While a worker starts (fork and exec, milliseconds): SIGINT ignored, which the new process
    inherits, so a Ctrl-C while it imports (seconds) prints no ``KeyboardInterrupt`` traceback
    (``_child`` then sets its handlers; one landing in these milliseconds is lost to the driver
    too); SIGTERM recorded, and raised once the worker is in the list of those to stop (one that
    kills the new process before its handlers are set leaves nothing and prints nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers: the main thread's business
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    old = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, hold),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
    }
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        first = old[signal.Signals(caught[0])] if caught else None
        if callable(first):
            first(caught[0], None)  # raises Terminated or KeyboardInterrupt


@contextlib.contextmanager
def _ignored() -> Iterator[None]:
    """Further SIGINT/SIGTERM ignored while the driver stops its workers and cleans up: a
    second signal (``timeout`` signals the command and then its group) must not cut it short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals.STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@dataclass
class _Worker:
    name: str
    process: BaseProcess
    conn: Any
    message: tuple[str, Any] | None = None
    waits: list[Any] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    oom_kills: int | None = field(default_factory=oom_kills)

    def record(self) -> ModelRecord:
        seconds = time.monotonic() - self.started
        if self.message is None:
            return crashed(self.name, _why_died(self.process.exitcode, self.oom_kills), seconds)
        kind, payload = self.message
        if kind == "record":
            return ModelRecord.from_dict(payload)
        return crashed(self.name, str(payload), seconds)


def stop(processes: list[BaseProcess], seconds: float = STOP_SECONDS) -> None:
    """SIGTERM every worker, wait for them, SIGKILL those still running."""
    for p in processes:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + seconds
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join()


def run_in_process(
    todo: list[tuple[str, str | None]], options: ReleaseOptions, dist: Path, done: Done
) -> dict[str, ModelRecord]:
    records = {}
    for name, weights in todo:
        records[name] = build_model(name, weights, options, str(dist))
        done(records[name])
    return records


def _next(pending: list[tuple[str, str | None]], running: list[str]) -> int:
    """Index of the next model to start: the first that does not build the synthetic weights
    a running worker is building (a twin, ``X`` beside ``X_ssld``, started later finds them in
    the cache instead of building them at the same time), else the first."""

    busy = {model_info(n).architecture for n in running}
    for i, (name, weights) in enumerate(pending):
        if weights is not None or model_info(name).architecture not in busy:
            return i
    return 0


def run_pool(
    todo: list[tuple[str, str | None]],
    options: ReleaseOptions,
    dist: Path,
    jobs: int,
    done: Done,
) -> dict[str, ModelRecord]:
    with temporary_folder("p2o-release-") as tmp:  # the workers' $TMPDIR (see _child)
        return _run_workers(todo, options, dist, jobs, done, tmp)


def _run_workers(
    todo: list[tuple[str, str | None]],
    options: ReleaseOptions,
    dist: Path,
    jobs: int,
    done: Done,
    tmp: str,
) -> dict[str, ModelRecord]:
    ctx = multiprocessing.get_context("spawn")
    pending = list(todo)
    running: list[_Worker] = []
    records: dict[str, ModelRecord] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                name, weights = pending.pop(_next(pending, [r.name for r in running]))
                recv, send = ctx.Pipe(duplex=False)
                args = (name, weights, options.key(), str(dist))
                proc = ctx.Process(target=_child, args=(send, args, tmp), name=f"p2o-{name}")
                with _held():
                    proc.start()
                    running.append(_Worker(name, proc, recv, waits=[recv, proc.sentinel]))
                send.close()
            ready = set(mpc.wait([w for r in running for w in r.waits]))
            for r in list(running):
                if r.conn in ready:  # read before the exit: a big record fills the pipe
                    try:
                        r.message = r.conn.recv()
                    except (EOFError, OSError):
                        pass
                    r.waits.remove(r.conn)
                if r.process.sentinel in ready:
                    if r.conn in r.waits and r.message is None:
                        try:
                            r.message = r.conn.recv() if r.conn.poll() else None
                        except (EOFError, OSError):
                            pass
                    r.conn.close()
                    r.process.join()
                    running.remove(r)
                    records[r.name] = r.record()
                    done(records[r.name])
    except BaseException:
        with _ignored():
            stop([r.process for r in running])
            shutil.rmtree(dist / WORK, ignore_errors=True)  # every worker's, once all exited
        raise
    return records


def run(
    todo: list[tuple[str, str | None]],
    options: ReleaseOptions,
    dist: Path,
    jobs: int,
    done: Done,
) -> dict[str, ModelRecord]:
    """A record per model of ``todo``; ``done`` is called as each one finishes."""
    with signals.sigterm_raises():
        if not todo:
            return {}
        if jobs == 0:
            return run_in_process(todo, options, dist, done)
        return run_pool(todo, options, dist, jobs, done)
