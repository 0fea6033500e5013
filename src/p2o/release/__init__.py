"""``release``: the zoo (or a user's list) converted, verified, optionally benchmarked, packaged.

Layout of ``DIST``::

    DIST/<model>/model.onnx, manifest.json, golden.npz, report.md, report.html,
                 bench.png (with --bench), record.json
    DIST/release.json  SHA256SUMS  junit.xml  report.md  report.html

A model is built in ``DIST/.work/<model>.<pid>/`` and moved to ``DIST/<model>/`` by one
directory rename once every file is written, ``record.json`` last: a killed run leaves
only ``.work`` leftovers (removed by the next run), never a model directory that looks
complete. The aggregate files are written (atomically) when all models are done. Every
path in DIST is relative and stays inside DIST.

Rooms: ``plan`` (options, selection, shards, resume key), ``worker`` (one model),
``executor`` (process pool, signals), ``progress`` (a line per model), ``summary``
(aggregates, merge); the pages are drawn by ``p2o.report.release``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from p2o.core.errors import UsageError
from p2o.core.results import ModelRecord, ReleaseSummary
from p2o.release import executor, ray_executor
from p2o.release import progress as bar
from p2o.release.plan import (
    DEFAULT_RUNTIMES,
    ReleaseOptions,
    inputs_key,
    out_dir,
    plan,
    select_models,
    shard,
)
from p2o.release.summary import load_record, merge, remove_aggregates, write_aggregates
from p2o.release.worker import ARTIFACTS, RECORD, WORK, build_model

__all__ = [
    "ARTIFACTS",
    "DEFAULT_RUNTIMES",
    "RECORD",
    "WORK",
    "ModelRecord",
    "ReleaseOptions",
    "ReleaseSummary",
    "build_model",
    "inputs_key",
    "load_record",
    "merge",
    "release",
    "select_models",
    "shard",
]


def release(
    models: str | Sequence[str],
    *,
    out: str | Path = "dist",
    weights_dir: str | Path | None = None,
    options: ReleaseOptions | None = None,
    jobs: int = 1,
    shard_spec: str | None = None,
    resume: bool = False,
    progress: Callable[[ModelRecord], None] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> ReleaseSummary:
    """Run the release; the summary's ``status`` is the verdict (also in ``release.json``).

    ``engine``: ``local`` (processes here, ``jobs`` at a time) or ``ray`` (a Ray task per model,
    on the cluster at ``ray_address``; :mod:`p2o.release.ray_executor`)."""
    options = options or ReleaseOptions()
    options.check()
    if jobs < 0:
        raise UsageError(f"--jobs must be >= 0, got {jobs}")
    if engine not in ("local", "ray"):
        raise UsageError(f"--executor wants local or ray, got {engine!r}")
    if engine == "ray":
        ray_executor.import_ray()  # one line naming the extra, before DIST is touched
    steps = plan(models, weights_dir, shard_spec)
    dist = out_dir(out)
    shutil.rmtree(dist / WORK, ignore_errors=True)  # leftovers of a killed run
    remove_aggregates(dist)

    records: dict[str, ModelRecord] = {}
    t0 = time.perf_counter()
    with bar.models(len(steps)) as task:

        def done(rec: ModelRecord) -> None:
            bar.report(task, rec)
            if progress is not None:
                progress(rec)

        todo = []
        for name, weights in steps:
            old = load_record(dist, name) if resume else None
            if (
                old is not None
                and old.passed
                and old.inputs_key == inputs_key(name, weights, options)[0]
            ):
                old.skipped_resume = True
                records[name] = old
                done(old)
            else:
                todo.append((name, weights))
        if engine == "ray":
            records.update(ray_executor.run(todo, options, dist, done, ray_address))
        else:
            records.update(executor.run(todo, options, dist, jobs, done))
    shutil.rmtree(dist / WORK, ignore_errors=True)
    return write_aggregates(
        dist,
        [records[n] for n, _ in steps],
        options.key(),
        time.perf_counter() - t0,
        {"shard": shard_spec, "jobs": jobs, "models": [n for n, _ in steps]}
        | ({"executor": engine} if engine != "local" else {}),
    )
