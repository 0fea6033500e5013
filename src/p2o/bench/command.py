"""``p2o bench``: a model on several runtimes, interleaved, beside the Paddle reference.

``benchmark`` checks every argument first (UsageError, nothing measured), resolves the model
through ``p2o.parity.subject`` (the same content-keyed answer as verify: which ONNX file, which
Paddle model), skips what cannot run here with the reason (package, device, precision), then
measures everything that can, interleaved (``measure``), and returns a typed ``BenchResult``.
Rendering is the report layer's (``p2o.report.bench``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from p2o.bench.feeds import check_batches, feed_shapes, onnx_inputs, random_feed
from p2o.bench.measure import Log, measure_runners
from p2o.bench.timing import DEFAULT_ITERS, DEFAULT_WARMUP, Clock, error_text, machine_info
from p2o.converter.source import ModelSource, PaddleModelSource, with_paddle_model
from p2o.core.errors import NotApplicable, P2OError, UsageError
from p2o.core.results import BenchResult, Status, Timing
from p2o.parity import subject
from p2o.runtimes import registry as rt
from p2o.runtimes.base import Runner
from p2o.zoo.registry import seed_latency

DEFAULT_RUNTIMES = ("paddle", "ort-cpu", "openvino")
DEFAULT_BATCHES = (1,)
DEFAULT_THREADS = 2
GENERIC_STEMS = ("model", "inference", "paddle", "onnx")


def _parse_runtimes(runtimes: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(r.strip() for r in runtimes if r.strip()))
    if not names:
        raise UsageError("no runtime to benchmark")
    for name in names:
        rt.get(name)  # UsageError naming the valid ones
    return names


def validate(
    *,
    runtimes: Sequence[str],
    batches: Sequence[int],
    threads: int,
    warmup: int,
    iters: int | None,
    seconds: float | None,
) -> tuple[list[str], list[int]]:
    names = _parse_runtimes(runtimes)
    if not batches:
        raise UsageError("no batch size to benchmark")
    bad = [b for b in batches if int(b) < 1]
    if bad:
        raise UsageError(f"batch sizes must be >= 1, got {list(batches)}")
    if int(threads) < 1:
        raise UsageError(f"--threads must be >= 1, got {threads}")
    if int(warmup) < 0:
        raise UsageError(f"--warmup must be >= 0, got {warmup}")
    if iters is not None and seconds is not None:
        raise UsageError("give --iters or --seconds, not both")
    if iters is not None and int(iters) < 1:
        raise UsageError(f"--iters must be >= 1, got {iters}")
    if seconds is not None and not float(seconds) > 0:
        raise UsageError(f"--seconds must be > 0, got {seconds}")
    return names, sorted({int(b) for b in batches})


def _skip_reason(name: str, precision: str, has_paddle: bool) -> str | None:
    cls = rt.get(name)
    try:
        avail = cls.availability()
    except Exception as exc:  # a broken install is a reason to skip, not to crash
        return f"availability check failed: {error_text(exc)}"
    if not avail:
        return avail.reason
    if (why := rt.unsupported_precision(name, precision)) is not None:
        return why
    if rt.kind(name) == "paddle" and not has_paddle:
        return "no Paddle model (give --model NAME or --paddle-model DIR)"
    return None


def _label(subj: subject.Subject, src: PaddleModelSource | None) -> str:
    """A model label from the files: the ONNX stem, or its folder when the stem is generic;
    the Paddle model's name when there is no ONNX file."""
    if subj.onnx_path is None:
        return "" if src is None else src.name
    path = subj.onnx_path.resolve()
    if path.stem.lower() not in GENERIC_STEMS:
        return path.stem
    if path.parent.name.lower() not in GENERIC_STEMS:
        return path.parent.name
    return path.parent.parent.name


@dataclass
class _Plan:
    """What will be measured, decided before anything runs."""

    names: list[str]
    batches: list[int]
    iters: int | None
    extra: dict[str, Callable[[Path], Runner]]
    skipped: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def wants_onnx(self) -> bool:
        onnx_runtimes = (n for n in self.names if n not in self.skipped)
        return bool(self.extra) or any(rt.kind(n) == "onnx" for n in onnx_runtimes)

    @property
    def wants_paddle(self) -> bool:
        return any(rt.kind(n) == "paddle" for n in self.names if n not in self.skipped)


def _plan(o: BenchOptions, extra_runners: Mapping[str, Callable[[Path], Runner]] | None) -> _Plan:
    model, onnx_file, paddle_model, runtimes = o.model, o.onnx_file, o.paddle_model, o.runtimes
    iters, seconds, precision = o.iters, o.seconds, o.precision
    if iters is None and seconds is None:
        iters = DEFAULT_ITERS
    names, batch_list = validate(
        runtimes=list(runtimes or DEFAULT_RUNTIMES),
        batches=o.batches,
        threads=o.threads,
        warmup=o.warmup,
        iters=iters,
        seconds=seconds,
    )
    if model is None and onnx_file is None:
        raise UsageError("give --model NAME, or --onnx FILE (with --paddle-model DIR for paddle)")
    if model is not None and paddle_model is not None:
        raise UsageError("give either --model or --paddle-model as the Paddle model, not both")
    has_paddle = model is not None or paddle_model is not None
    notes: list[str] = []
    if not has_paddle and any(rt.kind(n) == "paddle" for n in names):
        if runtimes is not None:
            raise UsageError(
                "the paddle runtimes need a Paddle model: --model NAME or --paddle-model DIR"
            )
        names = [n for n in names if rt.kind(n) != "paddle"]
        notes.append("no Paddle model given: paddle not measured, no ratios")
    if not any(precision in rt.precisions(n) for n in names):
        raise UsageError(f"precision {precision!r} is supported by none of {', '.join(names)}")
    extra = dict(extra_runners or {})
    clash = sorted(set(extra) & set(names))
    if clash:
        raise UsageError(f"extra runner labels {clash} clash with runtime names")
    skipped = {n: r for n in names if (r := _skip_reason(n, precision, has_paddle)) is not None}
    return _Plan(names, batch_list, iters, extra, skipped, notes)


def _feeds(subj: subject.Subject, plan: _Plan) -> dict[int, dict[str, np.ndarray]]:
    """Seeded random inputs per batch size, shaped as the ONNX file (else the zoo model) wants."""
    src = None if subj.reference is None else subj.reference.source
    if subj.onnx_path is not None:
        inputs = onnx_inputs(subj.onnx_path)
        if plan.wants_onnx:
            check_batches(inputs, plan.batches, str(subj.onnx_path))
        size = None if src is None else src.input_shape  # for dynamic image dims
        shapes = {b: feed_shapes(inputs, b, str(subj.onnx_path), size) for b in plan.batches}
    elif src is not None:
        shapes = {b: {src.input_name: (b, *src.input_shape)} for b in plan.batches}
    else:
        shapes = {b: {"x": (b, *subj.shape)} for b in plan.batches}
    return {b: random_feed(s) for b, s in shapes.items()}


def _runners(
    plan: _Plan,
    ref_dir: Any,
    onnx_path: Path | None,
    threads: int,
    precision: str,
) -> tuple[dict[str, Runner], dict[str, str]]:
    """Every runner to measure (not built yet), and the ones that could not be created."""
    runners: dict[str, Runner] = {}
    errors: dict[str, str] = {}
    for n in plan.names:
        if n in plan.skipped:
            continue
        target = subject.materialize(ref_dir) if rt.kind(n) == "paddle" else onnx_path
        try:
            runners[n] = rt.create(n, target, threads=threads, precision=precision)
        except P2OError as exc:
            errors[n] = str(exc)
    for n, factory in plan.extra.items():
        assert onnx_path is not None
        try:
            runners[n] = factory(onnx_path)
        except NotApplicable as exc:
            plan.skipped[n] = str(exc)
        except P2OError as exc:
            errors[n] = str(exc)
    return runners, errors


def _timings(
    plan: _Plan, measured: list[Timing], errors: dict[str, str], names: list[str]
) -> list[Timing]:
    """One timing per (batch, runtime), in that order: measured, skipped or error."""
    timings: list[Timing] = []
    for b in plan.batches:
        for n in names:
            if n in plan.skipped:
                timings.append(Timing(n, b, Status.SKIPPED, plan.skipped[n], settings={"batch": b}))
            elif n in errors:
                timings.append(Timing(n, b, Status.ERROR, errors[n], settings={"batch": b}))
            else:
                timings.extend(t for t in measured if t.runtime == n and t.batch == b)
    return timings


@dataclass(frozen=True)
class BenchOptions(ModelSource):
    """The options of ``benchmark``: the model (``ModelSource``), the ONNX file, how to time."""

    onnx_file: str | Path | None = None
    runtimes: Sequence[str] | None = None
    batches: Sequence[int] = DEFAULT_BATCHES
    threads: int = DEFAULT_THREADS
    warmup: int = DEFAULT_WARMUP
    iters: int | None = None
    seconds: float | None = None
    precision: str = "fp32"
    work_dir: str | Path | None = None


@with_paddle_model
def benchmark(
    o: BenchOptions,
    *,
    clock: Clock = time.perf_counter,
    log: Log | None = None,
    extra_runners: Mapping[str, Callable[[Path], Runner]] | None = None,
) -> BenchResult:
    """Benchmark a zoo model (converted or reused) or an ONNX file on several runtimes.

    ``runtimes=None`` is paddle, ort-cpu and openvino, without paddle when there is no
    Paddle model; naming ``paddle`` without one is a UsageError. ``iters`` defaults to
    ``DEFAULT_ITERS`` unless ``seconds`` is given. ``extra_runners`` maps more labels to
    factories of runners on the ONNX file (engine variants), measured interleaved too.
    """
    assert o.paddle_model is None or isinstance(o.paddle_model, PaddleModelSource)  # opened
    plan = _plan(o, extra_runners)
    say = log or (lambda _msg: None)
    if o.onnx_file is None and o.model is not None and plan.wants_onnx:
        say(f"{o.model}: converting (or reusing an up-to-date conversion) ...")
    subj = subject.of(o, convert=plan.wants_onnx)
    feeds = _feeds(subj, plan)
    machine = machine_info()
    say(f"threads {o.threads} for every CPU engine; {machine['cpu']}")
    reference = subj.reference if plan.wants_paddle else None
    with subject.paddle_dir(reference) as ref_dir:
        runners, errors = _runners(plan, ref_dir, subj.onnx_path, o.threads, o.precision)
        measured = measure_runners(
            runners,
            feeds,
            warmup=o.warmup,
            iters=plan.iters,
            seconds=o.seconds,
            clock=clock,
            log=say,
        )
    machine["loadavg_after"] = machine_info()["loadavg_1_5_15"]
    names = plan.names + list(plan.extra)
    return BenchResult(
        model=o.model or _label(subj, o.paddle_model),
        onnx_file=None if subj.onnx_path is None else str(subj.onnx_path),
        paddle_model=_paddle_desc(o.paddle_model, o.model if ref_dir is not None else None),
        runtimes=names,
        batches=plan.batches,
        threads=int(o.threads),
        precision=o.precision,
        warmup=int(o.warmup),
        iters=plan.iters,
        seconds=o.seconds,
        machine=machine,
        timings=_timings(plan, measured, errors, names),
        published=_published(o.model),
        notes=plan.notes,
    )


def _paddle_desc(src: PaddleModelSource | None, exported: str | None) -> str | None:
    if src is not None:
        return str(src.archive or src.given_path)
    return None if exported is None else f"exported from the zoo network {exported}"


def _published(model: str | None) -> list[dict[str, Any]]:
    if model is None:
        return []

    return seed_latency(model)
