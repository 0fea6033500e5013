"""One model of a release: convert, verify (and bench) into a private work directory, write
its reports and ``record.json`` (last), then publish the directory with one rename.

Everything the published directory says about itself is relative to it (``model.onnx``,
``golden.npz``, ``bench.png``): the work directory is deleted after the run and the DIST
may be moved or downloaded elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import shutil
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from p2o import bench as latency
from p2o import report
from p2o.bench import precisions as pv
from p2o.bench.plot import plot_latency
from p2o.converter import ConvertOptions, convert
from p2o.converter.export import reuse_exports
from p2o.converter.paddle2onnx import ConversionError
from p2o.core import signals
from p2o.core.errors import P2OError, Terminated
from p2o.core.files import remove_tree
from p2o.core.hashing import sha256_file
from p2o.core.results import (
    BenchResult,
    ModelRecord,
    Status,
    VerifyResult,
    dumps_strict,
    loads_strict,
    verdict,
)
from p2o.parity.verify import VerifyOptions, verify
from p2o.release.plan import ReleaseOptions, inputs_key
from p2o.release.precision import release_precisions
from p2o.report.release import model_report

RECORD = "record.json"
WORK = ".work"
PADDLE2ONNX_LOG = "paddle2onnx.log"  # in a model's folder, when paddle2onnx failed on it
REPORTS = ("report.md", "report.html")
ARTIFACTS = ("model.onnx", "manifest.json", "golden.npz", *REPORTS, "bench.png")
BENCH_ITERS = 20


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)


class _Stage:
    """Times one stage into the record and names it as the stage that decides, if it fails."""

    def __init__(self, rec: ModelRecord, name: str) -> None:
        self.rec, self.name = rec, name

    def __enter__(self) -> None:
        _stopped()  # a signal that a library swallowed: no further stage
        self.decided = self.rec.stage if self.rec.reason else None  # an earlier stage failed
        self.rec.stage = self.name
        self.t0 = time.perf_counter()

    def __exit__(self, raised: type[BaseException] | None, *exc: object) -> None:
        self.rec.stage_seconds[self.name] = round(time.perf_counter() - self.t0, 2)
        self.rec.stage_peak_rss_mb[self.name] = _peak_rss_mb()
        if raised is None and self.decided is not None:
            self.rec.stage = self.decided  # it still names the stage that failed first


def _relative_verify(result: VerifyResult) -> VerifyResult:
    golden = "golden.npz" if result.golden_saved else None
    return dataclasses.replace(result, onnx_file="model.onnx", golden_saved=golden)


def _relative_bench(result: BenchResult) -> BenchResult:
    return dataclasses.replace(result, onnx_file="model.onnx", paddle_model=None)


@contextlib.contextmanager
def _log_kept(work: Path) -> Iterator[None]:
    """paddle2onnx's whole log, which a failed conversion leaves under ``$TMPDIR``, moved into
    the model's folder: a worker's ``$TMPDIR`` goes with it, and the release travels."""
    try:
        yield
    except ConversionError as exc:
        if exc.log is None or not exc.log.is_file():
            raise
        kept = work / PADDLE2ONNX_LOG
        shutil.move(exc.log, kept)
        text = str(exc).replace(str(exc.log), f"{PADDLE2ONNX_LOG} in the model's folder")
        raise ConversionError(text, kept) from None


def _run_stages(rec: ModelRecord, weights: str | None, options: ReleaseOptions, work: Path) -> None:

    with _Stage(rec, "convert"), _log_kept(work):
        res = convert(
            ConvertOptions(
                rec.model,
                weights=weights,
                seed=options.seed,
                out_dir=work,
                opset=options.opset,
                simplifier=options.simplifier,
                align_groups=options.align_groups,
            )
        )
    rec.stage_seconds.update({f"convert.{k}": v for k, v in res.manifest.stage_seconds.items()})
    rec.node_counts = dict(res.manifest.node_counts)
    with _Stage(rec, "verify"):
        result = verify(
            VerifyOptions(
                rec.model,
                onnx_file=res.onnx_path,
                weights=weights,
                seed=options.seed,
                tolerance=options.tolerance,
                runtimes=options.runtimes,
                batches=options.batches,
                strict=options.strict,
                save_golden=work / "golden.npz",
            )
        )
    rec.verify = _relative_verify(result)
    rec.status, rec.reason = result.status, result.report.reason
    artifacts: dict[str, Path] = {}
    if len(options.precisions) > 1:
        with _Stage(rec, "precision"):
            artifacts = release_precisions(rec, weights, options, work, res.onnx_path)
    statuses = [rec.status]
    if options.bench:
        with _Stage(rec, "bench"):
            bench = _bench(res.onnx_path, rec.model, weights, options, work, artifacts)
            rec.bench = _relative_bench(bench)
            rec.bench_plot = "bench.png" if (work / "bench.png").is_file() else None
        statuses.append(rec.bench.status)
        rec.reason = rec.reason or rec.bench.reason
        if result.status is not Status.PASSED:
            rec.stage = "verify"
    rec.status = verdict(statuses)


def _bench(
    onnx_path: Path,
    name: str,
    weights: str | None,
    options: ReleaseOptions,
    work: Path,
    artifacts: dict[str, Path] | None = None,
) -> BenchResult:

    extra = None
    if len(options.precisions) > 1:  # each precision beside its runtime's fp32, same run
        extra = pv.variant_runners(
            options.runtimes, options.precisions, artifacts or {}, latency.DEFAULT_THREADS
        )
    result = latency.benchmark(
        latency.BenchOptions(
            name,
            onnx_file=onnx_path,
            weights=weights,
            seed=options.seed,
            runtimes=("paddle", *options.runtimes),
            batches=options.batches,
            iters=BENCH_ITERS,
        ),
        extra_runners=extra,
    )
    if extra:
        result.notes.extend(pv.speedup_lines(result))
    if any(t.latency is not None for t in result.timings):
        plot_latency([result], work / "bench.png")
    return result


def build_model(
    name: str,
    weights: str | None,
    options: ReleaseOptions,
    dist: str,
    key_options: ReleaseOptions | None = None,
) -> ModelRecord:
    """Convert, verify (and bench) one model into its work dir, then publish it.

    ``key_options``: the release's options when ``options`` is only this step's share of them
    (the Ray executor's Paddle step, without the GPU runtimes): ``--resume`` compares those."""
    key, wsha = inputs_key(name, weights, key_options or options)
    source = Path(weights).name if weights else f"synthetic(seed={options.seed})"
    rec = ModelRecord(name, Status.ERROR, "", key, source, wsha)
    work = Path(dist) / WORK / f"{name}.{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        return _build(rec, weights, options, Path(dist), work)
    except BaseException:
        remove_tree(work)  # stopped: no half-built model left behind
        raise


def _stopped() -> None:
    """Raise ``Terminated`` when a signal told this worker to stop, whatever Paddle (which may
    catch, wrap or re-raise it) or a failing child process made of it: never go on, never
    publish a model that the signal cut short."""
    if signals.stopping():
        raise Terminated("stopped by a signal")


def _build(
    rec: ModelRecord, weights: str | None, options: ReleaseOptions, dist: Path, work: Path
) -> ModelRecord:
    t0 = time.perf_counter()
    try:
        with reuse_exports(work / ".exports"):  # convert's export serves as verify's reference
            _run_stages(rec, weights, options, work)
        if rec.status is Status.PASSED:
            rec.stage = ""
    except P2OError as exc:
        rec.status = Status.FAILED if exc.exit_code == 1 else Status.ERROR
        rec.reason = str(exc)
    except Exception as exc:  # a crash of one model must not stop the release
        rec.status, rec.reason = Status.ERROR, f"{type(exc).__name__}: {exc}"
        if os.environ.get("P2O_DEBUG"):
            traceback.print_exc()
    _stopped()
    rec.stage_seconds["total"] = round(time.perf_counter() - t0, 2)
    _write_pages(rec, work, options)
    final = dist / rec.model
    _stopped()
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)  # one rename: the model dir appears complete or not at all
    return rec


def _write_pages(rec: ModelRecord, folder: Path, options: ReleaseOptions) -> None:
    """The model's reports, the artifacts' checksums, then ``record.json`` (last)."""
    shown = [f for f in (*ARTIFACTS, PADDLE2ONNX_LOG) if (folder / f).is_file()]
    page = model_report(rec, [*shown, RECORD])
    for name_ in REPORTS:
        report.write(folder / name_, page)
    files = [*ARTIFACTS, *(f"{p}/{f}" for p in options.precisions for f in ARTIFACTS[:2])]
    rec.artifacts = {f: sha256_file(folder / f) for f in files if (folder / f).is_file()}
    (folder / RECORD).write_text(dumps_strict(rec))


def add_gpu_verify(
    folder: Path, runtimes: list[str], options: ReleaseOptions, node: str
) -> ModelRecord:
    """The GPU step of a model built elsewhere (a GPU node without Paddle): verify its
    ``model.onnx`` on the GPU ``runtimes`` against its ``golden.npz``, add those rows to its
    record's verify, and rewrite its reports and ``record.json``. A model whose Paddle step
    left no golden file (convert or verify failed there) is returned as it is."""
    rec = ModelRecord.from_dict(loads_strict((folder / RECORD).read_text()))
    if rec.verify is None or not (folder / "golden.npz").is_file():
        return rec
    with _Stage(rec, "verify_gpu"):
        gpu = verify(
            VerifyOptions(
                onnx_file=folder / "model.onnx",
                golden=folder / "golden.npz",
                runtimes=runtimes,
                batches=options.batches,
                tolerance=options.tolerance,
                strict=options.strict,
            )
        )
    results = [*rec.verify.report.results, *gpu.report.results]
    merged = dataclasses.replace(rec.verify.report, results=results)  # one verdict over both
    note = f"{', '.join(runtimes)} verified on node {node} against golden.npz (no Paddle there)"
    rec.verify = dataclasses.replace(rec.verify, report=merged, notes=[*rec.verify.notes, note])
    if merged.status is not Status.PASSED:
        rec.stage, rec.reason = rec.stage or "verify", rec.reason or merged.reason
    rec.status = verdict([rec.status, merged.status])
    _write_pages(rec, folder, options)
    return rec


def worker_main(args: tuple[str, str | None, dict[str, Any], str]) -> dict[str, Any]:
    """Entry point of a worker process: one model; the record as a dict (pickled back)."""
    import warnings

    name, weights, opts, dist = args
    signals.install_worker()  # SIGTERM/SIGINT: unwind once, quietly; the parent cleans up
    warnings.filterwarnings("ignore", message="No ccache found")
    return build_model(name, weights, ReleaseOptions.from_key(opts), dist).to_dict()
