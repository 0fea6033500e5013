"""Run the models of a plan: one process per model (paddle2onnx and Paddle are not safe to
share in one process), ``jobs`` at a time; ``jobs=0`` runs them in this process (tests,
debugging). A worker that dies becomes an ``error`` record (stage ``worker``); SIGINT or
SIGTERM stops the workers, removes the work directories and re-raises."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import shutil
from collections.abc import Callable
from pathlib import Path

from p2o import signals
from p2o.release.plan import ReleaseOptions
from p2o.release.worker import WORK, build_model, worker_main
from p2o.results import ModelRecord, Status

Done = Callable[[ModelRecord], None]


def crashed(name: str, exc: BaseException) -> ModelRecord:
    return ModelRecord(name, Status.ERROR, f"worker died: {exc!r}", stage="worker")


def run_in_process(
    todo: list[tuple[str, str | None]], options: ReleaseOptions, dist: Path, done: Done
) -> dict[str, ModelRecord]:
    records = {}
    for name, weights in todo:
        records[name] = build_model(name, weights, options, str(dist))
        done(records[name])
    return records


def run_pool(
    todo: list[tuple[str, str | None]],
    options: ReleaseOptions,
    dist: Path,
    jobs: int,
    done: Done,
) -> dict[str, ModelRecord]:
    records: dict[str, ModelRecord] = {}
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1)
    try:
        futures = {pool.submit(worker_main, (n, w, options.key(), str(dist))): n for n, w in todo}
        for fut in cf.as_completed(futures):
            name = futures[fut]
            try:
                records[name] = ModelRecord.from_dict(fut.result())
            except Exception as exc:  # the worker process died (a segfault, SIGKILL, OOM)
                records[name] = crashed(name, exc)
            done(records[name])
    except BaseException:
        for p in list(getattr(pool, "_processes", {}).values()):
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(dist / WORK, ignore_errors=True)
        raise
    pool.shutdown()
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
