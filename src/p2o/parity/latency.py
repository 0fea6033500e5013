"""Latency benchmarks: the same input through several runtimes, interleaved, on one machine.

What is measured, per runtime and batch size:

- ``build_seconds``: session creation / engine build (``Runner.build``), reported apart;
- ``first_run_ms``: the first inference (lazy kernel selection, primitive caches), part of
  the warm-up and never counted in the statistics;
- the latency of each measured inference: p50, p90, p99, mean, min, max, the IQR and
  the spread p90/p50, and the throughput ``batch / mean`` in images per second.

Timing on a shared, noisy machine: every runtime first runs its warm-up (per batch size,
since kernels are chosen per shape), then the runtimes are measured round-robin, one
inference each per round (A B C A B C ...), so that a slow patch of the machine hits all
of them alike. A runtime's latency relative to the reference (Paddle Inference) comes from
that same run: ``p50 / reference p50``, and the paired ratio, the median over the rounds
of ``t_runtime / t_reference`` within a round, which cancels drift between rounds.

Spin-waits: a thread pool that spins after a call keeps a core busy while the next engine
of the round runs; Paddle's Intel OpenMP spins ``KMP_BLOCKTIME`` = 200 ms by default
(measured: ~160 ms of CPU after every call on 2 threads), which on a machine with few cores
slows whichever engine follows Paddle. ``no_spin_env`` sets ``KMP_BLOCKTIME=0`` unless the
environment already sets it; the command line calls it, and the value is in ``machine``.

Every CPU engine gets the same thread count. GPU runtimes (ONNX Runtime CUDA/TensorRT) are
timed with IO binding and a device synchronisation, host↔device copies apart (see
``OrtDeviceStep``); where no GPU is available they are listed as skipped, with the reason.

The clock is injectable (``clock=``) so the statistics can be tested without sleeping.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from p2o.converter.source import PaddleModelSource, with_paddle_model
from p2o.errors import NotApplicable, P2OError, UsageError
from p2o.results import PUBLISHED_LABEL as PUBLISHED_LABEL
from p2o.results import BenchResult, LatencyStats, Status, Timing
from p2o.runtimes import registry as rt
from p2o.runtimes.base import Runner

DEFAULT_RUNTIMES = ("paddle", "ort-cpu", "openvino")
DEFAULT_BATCHES = (1,)
DEFAULT_WARMUP = 5
DEFAULT_ITERS = 30
DEFAULT_THREADS = 2
REFERENCE = "paddle"
SPIN_ENV = {"KMP_BLOCKTIME": "0"}
"""Environment that stops OpenMP threads spinning after a call (set unless already set)."""
RECORDED_ENV = ("KMP_BLOCKTIME", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")

Clock = Callable[[], float]
Log = Callable[[str], None]


@dataclass(frozen=True)
class Split:
    """What a self-timed step returns: its compute seconds, and transfers timed apart."""

    compute: float
    transfers: Mapping[str, float] = field(default_factory=dict)


Step = Callable[[], "Split | None"]


# --------------------------------------------------------------------------- statistics


# --------------------------------------------------------------------------- interleaving


@dataclass
class Interleaved:
    """Raw result of ``interleave``: seconds per step name, in measurement order."""

    samples: dict[str, list[float]]
    transfers: dict[str, dict[str, list[float]]]
    first_run: dict[str, float]
    errors: dict[str, str]
    rounds: int
    order: list[str]
    """Names in the order they were measured (warm-up excluded): A B A B ..."""


def _error_text(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0][:500] if str(exc) else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def interleave(
    steps: Mapping[str, Step],
    *,
    warmup: int = DEFAULT_WARMUP,
    iters: int | None = DEFAULT_ITERS,
    seconds: float | None = None,
    clock: Clock = time.perf_counter,
) -> Interleaved:
    """Warm each step up (``warmup`` calls, in turn), then time them round-robin.

    Stops after ``iters`` rounds, or, with ``seconds``, at the first round boundary once
    that much time has passed since measurement began (at least one round). A step that
    raises is dropped from the rounds with its error; the others go on. A step that
    returns a ``Split`` has timed itself: its ``compute`` is the sample, its transfers are
    kept apart.
    """
    if (iters is None) == (seconds is None):
        raise UsageError("give exactly one of iters or seconds")
    samples: dict[str, list[float]] = {n: [] for n in steps}
    transfers: dict[str, dict[str, list[float]]] = {n: {} for n in steps}
    first_run: dict[str, float] = {}
    errors: dict[str, str] = {}
    order: list[str] = []
    active = list(steps)

    def call(name: str) -> tuple[float, Split | None] | None:
        t0 = clock()
        try:
            split = steps[name]()
        except Exception as exc:  # an engine failing mid-run must not sink the others
            errors[name] = _error_text(exc)
            active.remove(name)
            return None
        return clock() - t0, split

    for name in list(active):
        for k in range(warmup):
            got = call(name)
            if got is None:
                break
            if k == 0:
                first_run[name] = got[0]

    rounds = 0
    start = clock()
    while active:
        if iters is not None and rounds >= iters:
            break
        if seconds is not None and rounds > 0 and clock() - start >= seconds:
            break
        for name in list(active):
            got = call(name)
            if got is None:
                continue
            elapsed, split = got
            order.append(name)
            if split is None:
                samples[name].append(elapsed)
            else:
                samples[name].append(split.compute)
                for part, secs in split.transfers.items():
                    transfers[name].setdefault(part, []).append(secs)
        rounds += 1
    return Interleaved(samples, transfers, first_run, errors, rounds, order)


# --------------------------------------------------------------------------- results


def no_spin_env() -> dict[str, str]:
    """Set ``SPIN_ENV`` where the environment does not; returns what is now in force.

    Takes effect only if Paddle's OpenMP runtime has not started yet in this process (it
    reads the variable when its first parallel region runs), so call it before any
    Paddle inference.
    """
    for key, value in SPIN_ENV.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in SPIN_ENV}


def machine_info() -> dict[str, Any]:
    """The CPU this ran on (model name, logical CPUs), platform and the load average."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load: list[float] | None = [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        load = None
    return {
        "cpu": cpu or platform.processor() or platform.machine() or "unknown CPU",
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "loadavg_1_5_15": load,
        "env": {k: os.environ[k] for k in RECORDED_ENV if k in os.environ},
    }


# --------------------------------------------------------------------------- steps


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


class OrtDeviceStep:
    """ONNX Runtime on a GPU (CUDA or TensorRT provider), timed with IO binding.

    UNTESTED HERE: the development machine has no GPU; this is the intended protocol.
    Per call: copy the inputs to the device (``h2d``, timed apart), bind them and the
    outputs on the device, run and synchronise the device (the latency sample), then copy
    the outputs back (``d2h``, timed apart).
    """

    def __init__(self, runner: Runner, feed: Mapping[str, np.ndarray], clock: Clock) -> None:
        import onnxruntime as ort

        self._ort = ort
        self._session = runner._session  # built by the runner; its provider is checked
        self._device_id = int(getattr(runner, "device_id", 0))
        self._feed = {n: np.ascontiguousarray(feed[n]) for n in runner.input_names}
        self._outputs = list(runner.output_names)
        self._clock = clock

    def __call__(self) -> Split:
        ort, clock, dev = self._ort, self._clock, self._device_id
        t0 = clock()
        on_device = {
            n: ort.OrtValue.ortvalue_from_numpy(x, "cuda", dev) for n, x in self._feed.items()
        }
        t1 = clock()
        binding = self._session.io_binding()
        for n, v in on_device.items():
            binding.bind_ortvalue_input(n, v)
        for n in self._outputs:
            binding.bind_output(n, "cuda", dev)
        binding.synchronize_inputs()
        t2 = clock()
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        t3 = clock()
        binding.copy_outputs_to_cpu()
        t4 = clock()
        return Split(t3 - t2, {"h2d": t1 - t0, "d2h": t4 - t3})


def make_step(runner: Runner, feed: Mapping[str, np.ndarray], clock: Clock) -> Step:
    """The timed call of ``runner`` on ``feed``: IO binding on a GPU, ``run`` on a CPU."""
    from p2o.runtimes.onnxruntime import OrtCudaRunner

    if isinstance(runner, OrtCudaRunner):  # CUDA and TensorRT providers
        return OrtDeviceStep(runner, feed, clock)
    arg: Any = next(iter(feed.values())) if len(feed) == 1 else dict(feed)

    def step() -> None:
        runner.run(arg)

    return step


# --------------------------------------------------------------------------- measuring


def measure_runners(
    runners: Mapping[str, Runner],
    feeds: Mapping[int, Mapping[str, np.ndarray]],
    *,
    warmup: int = DEFAULT_WARMUP,
    iters: int | None = DEFAULT_ITERS,
    seconds: float | None = None,
    reference: str = REFERENCE,
    clock: Clock = time.perf_counter,
    log: Log | None = None,
) -> list[Timing]:
    """Build every runner, then, per batch size, measure them all interleaved.

    ``runners`` maps a label to a runner (built here when not yet built); ``feeds`` maps a
    batch size to its inputs by name. A runner that fails to build or run gets an
    ``error`` timing; the others are still measured. Ratios are to ``reference`` (a label
    of ``runners``) when it was measured at that batch size.
    """
    say = log or (lambda _msg: None)
    errors: dict[str, str] = {}
    live: dict[str, Runner] = {}
    for label, runner in runners.items():
        say(f"building {label} ...")
        try:
            runner.build()
        except Exception as exc:
            errors[label] = _error_text(exc)
            say(f"{label}: build failed: {errors[label]}")
            continue
        live[label] = runner
        say(f"{label}: built in {runner.build_seconds or 0:.2f} s")

    timings: list[Timing] = []
    for batch, feed in feeds.items():
        steps: dict[str, Step] = {}
        step_errors: dict[str, str] = {}
        for label, runner in live.items():
            try:
                steps[label] = make_step(runner, feed, clock)
            except Exception as exc:
                step_errors[label] = _error_text(exc)
        say(f"bs={batch}: {', '.join(steps)} interleaved ...")
        res = interleave(steps, warmup=warmup, iters=iters, seconds=seconds, clock=clock)
        by_label: dict[str, Timing] = {}
        for label, runner in runners.items():
            settings = {**runner.settings, "batch": batch}
            if label not in steps or label in res.errors:
                reason = (
                    errors.get(label) or step_errors.get(label) or res.errors.get(label, "not run")
                )
                by_label[label] = Timing(
                    label,
                    batch,
                    Status.ERROR,
                    reason,
                    build_seconds=runner.build_seconds,
                    settings=settings,
                )
                continue
            secs = res.samples[label]
            first = res.first_run.get(label)
            by_label[label] = Timing(
                label,
                batch,
                Status.PASSED,
                build_seconds=runner.build_seconds,
                first_run_ms=None if first is None else first * 1e3,
                latency=LatencyStats.of(secs, batch),
                transfers={k: LatencyStats.of(v, batch) for k, v in res.transfers[label].items()},
                settings=settings,
                samples_ms=[round(s * 1e3, 4) for s in secs],
            )
        ref = by_label.get(reference)
        if ref is not None and ref.latency is not None:
            ref_secs = res.samples[reference]
            for label, t in by_label.items():
                if t.latency is None:
                    continue
                t.vs_reference = _ratio(t.latency.p50_ms, ref.latency.p50_ms)
                pairs = zip(res.samples[label], ref_secs, strict=False)  # rounds both ran
                paired = [a / r for a, r in pairs if r > 0]
                t.vs_reference_paired = statistics.median(paired) if paired else None
        timings.extend(by_label.values())
    return timings


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class OnnxInput:
    name: str
    dims: tuple[int | str | None, ...]
    """Each dimension: an int when fixed, the symbol (or None) when not."""
    elem_type: int


def onnx_inputs(path: str | Path) -> list[OnnxInput]:
    """The graph inputs of an ONNX file (initializers excluded), without loading weights."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{path} is not a readable ONNX model: {_error_text(exc)}") from exc
    inits = {t.name for t in model.graph.initializer}
    out = []
    for i in model.graph.input:
        if i.name in inits:
            continue
        t = i.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim
        )
        out.append(OnnxInput(i.name, dims, t.elem_type))
    return out


def check_batches(inputs: Sequence[OnnxInput], batches: Sequence[int], where: str) -> None:
    """UsageError when an input's batch dimension is fixed to another size than asked."""
    for i in inputs:
        if not i.dims:
            continue
        fixed = i.dims[0]
        if isinstance(fixed, int) and fixed > 0:
            other = [b for b in batches if b != fixed]
            if other:
                raise UsageError(
                    f"{where}: input {i.name!r} has its batch dimension fixed to {fixed}, but "
                    f"--batch asks {','.join(map(str, other))} (bench --batch {fixed}, or "
                    "convert with --batch dynamic)"
                )


def feed_shapes(
    inputs: Sequence[OnnxInput],
    batch: int,
    where: str,
    image: tuple[int, ...] | None = None,
) -> dict[str, tuple[int, ...]]:
    """Shapes of a batch-``batch`` feed: the ONNX dims after the first must be fixed, or come
    from ``image`` (C, H, W: the Paddle model's preprocessing) for a one-input model."""
    import onnx

    shapes = {}
    for i in inputs:
        if i.elem_type != onnx.TensorProto.FLOAT:
            raise UsageError(f"{where}: input {i.name!r} is not float32; p2o bench feeds float32")
        rest = i.dims[1:]
        if image is not None and len(inputs) == 1 and len(rest) == len(image):
            pairs = zip(rest, image, strict=True)
            rest = tuple(d if isinstance(d, int) and d > 0 else s for d, s in pairs)
        if not all(isinstance(d, int) and d > 0 for d in rest):
            raise UsageError(
                f"{where}: input {i.name!r} has dims {list(i.dims)}; p2o bench needs every "
                "dimension but the batch fixed"
            )
        shapes[i.name] = (batch, *(int(d) for d in rest))  # type: ignore[arg-type]
    return shapes


def random_feed(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s, dtype=np.float32) for n, s in shapes.items()}


# --------------------------------------------------------------------------- the command


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
        return f"availability check failed: {_error_text(exc)}"
    if not avail:
        return avail.reason
    if precision not in rt.precisions(name):
        return f"precision {precision} not supported (it runs {', '.join(rt.precisions(name))})"
    if rt.kind(name) == "paddle" and not has_paddle:
        return "no Paddle model (give --model NAME or --paddle-model DIR)"
    return None


GENERIC_STEMS = ("model", "inference", "paddle", "onnx")


def _label(onnx_path: Path | None, paddle_model: str | Path | None) -> str:
    """A model label from the files: the ONNX stem, or its folder when the stem is generic."""
    path = onnx_path if onnx_path is not None else Path(str(paddle_model)) / "inference"
    path = path.resolve()
    if path.stem.lower() not in GENERIC_STEMS:
        return path.stem
    if path.parent.name.lower() not in GENERIC_STEMS:
        return path.parent.name
    return path.parent.parent.name


@with_paddle_model
def benchmark(
    model: str | None = None,
    *,
    onnx_file: str | Path | None = None,
    paddle_model: str | Path | PaddleModelSource | None = None,
    params: str | Path | None = None,
    inference_config: str | Path | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    runtimes: Sequence[str] | None = None,
    batches: Sequence[int] = DEFAULT_BATCHES,
    threads: int = DEFAULT_THREADS,
    warmup: int = DEFAULT_WARMUP,
    iters: int | None = None,
    seconds: float | None = None,
    precision: str = "fp32",
    work_dir: str | Path | None = None,
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
    from p2o.parity.verify import _ensure_onnx, _reference_dir

    explicit = runtimes is not None
    if iters is None and seconds is None:
        iters = DEFAULT_ITERS
    names, batch_list = validate(
        runtimes=list(runtimes or DEFAULT_RUNTIMES),
        batches=batches,
        threads=threads,
        warmup=warmup,
        iters=iters,
        seconds=seconds,
    )
    if model is None and onnx_file is None:
        raise UsageError("give --model NAME, or --onnx FILE (with --paddle-model DIR for paddle)")
    if model is not None and paddle_model is not None:
        raise UsageError("give either --model or --paddle-model as the Paddle model, not both")
    src = paddle_model if isinstance(paddle_model, PaddleModelSource) else None
    if onnx_file is not None and not Path(onnx_file).is_file():
        raise UsageError(f"ONNX file not found: {onnx_file}")
    has_paddle = model is not None or paddle_model is not None
    notes: list[str] = []
    if not has_paddle and any(rt.kind(n) == "paddle" for n in names):
        if explicit:
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

    say = log or (lambda _msg: None)
    skipped = {n: r for n in names if (r := _skip_reason(n, precision, has_paddle)) is not None}
    wants_onnx = bool(extra) or any(rt.kind(n) == "onnx" for n in names if n not in skipped)

    onnx_path = Path(onnx_file) if onnx_file is not None else None
    if onnx_path is None and model is not None and wants_onnx:
        say(f"{model}: converting (or reusing an up-to-date conversion) ...")
        onnx_path = _ensure_onnx(model, weights, seed, Path(work_dir) if work_dir else None)

    if onnx_path is not None:
        inputs = onnx_inputs(onnx_path)
        if wants_onnx:
            check_batches(inputs, batch_list, str(onnx_path))
        size = None if src is None else src.input_shape  # for dynamic image dims
        shapes = {b: feed_shapes(inputs, b, str(onnx_path), size) for b in batch_list}
    elif src is not None:
        shapes = {b: {src.input_name: (b, *src.input_shape)} for b in batch_list}
    else:
        from p2o.zoo import model_info

        assert model is not None
        shape = model_info(model).input_shape
        shapes = {b: {"x": (b, *shape)} for b in batch_list}
    feeds = {b: random_feed(s) for b, s in shapes.items()}

    label = model or (src.name if onnx_path is None and src else _label(onnx_path, None))
    net = None
    needs_net = model is not None and any(rt.kind(n) == "paddle" for n in names if n not in skipped)
    if needs_net:
        from p2o.zoo import create_model

        assert model is not None
        net = create_model(model, weights=weights, seed=seed)

    machine = machine_info()
    say(f"threads {threads} for every CPU engine; {machine['cpu']}")
    with _reference_dir(model, paddle_model, net) as ref_dir:
        runners: dict[str, Runner] = {}
        build_errors: dict[str, str] = {}
        for n in names:
            if n in skipped:
                continue
            target = ref_dir if rt.kind(n) == "paddle" else onnx_path
            try:
                runners[n] = rt.create(n, target, threads=threads, precision=precision)
            except P2OError as exc:
                build_errors[n] = str(exc)
        for n, factory in extra.items():
            assert onnx_path is not None
            try:
                runners[n] = factory(onnx_path)
            except NotApplicable as exc:
                skipped[n] = str(exc)
            except P2OError as exc:
                build_errors[n] = str(exc)
        measured = measure_runners(
            runners, feeds, warmup=warmup, iters=iters, seconds=seconds, clock=clock, log=say
        )
    machine["loadavg_after"] = machine_info()["loadavg_1_5_15"]

    timings: list[Timing] = []
    names += list(extra)
    for b in batch_list:
        for n in names:
            if n in skipped:
                timings.append(Timing(n, b, Status.SKIPPED, skipped[n], settings={"batch": b}))
            elif n in build_errors:
                timings.append(Timing(n, b, Status.ERROR, build_errors[n], settings={"batch": b}))
            else:
                timings.extend(t for t in measured if t.runtime == n and t.batch == b)

    published: list[dict[str, Any]] = []
    if model is not None:
        from p2o.zoo.registry import seed_latency

        published = seed_latency(model)
    return BenchResult(
        model=label,
        onnx_file=None if onnx_path is None else str(onnx_path),
        paddle_model=str(src.archive or src.given_path)
        if src is not None
        else (f"exported from the zoo network {model}" if net is not None else None),
        runtimes=names,
        batches=batch_list,
        threads=int(threads),
        precision=precision,
        warmup=int(warmup),
        iters=iters,
        seconds=seconds,
        machine=machine,
        timings=timings,
        published=published,
        notes=notes,
    )


# --------------------------------------------------------------------------- rendering
# drawn by the one report layer (p2o.report.bench) from the typed result


def table(result: BenchResult) -> str:
    """The terminal table, ratios and the published rows (labelled, apart)."""
    from p2o import report
    from p2o.report.bench import bench_report

    return report.text.render(bench_report(result))


def check_report_path(path: str | Path) -> None:
    from p2o import report

    report.check_path(path)


def write_report(path: str | Path, result: BenchResult, plot: str | Path | None = None) -> None:
    """A Markdown or HTML report (by suffix); ``plot`` is linked relative to the report."""
    from p2o import report
    from p2o.report.bench import bench_report

    link = None
    if plot is not None:
        link = os.path.relpath(Path(plot).resolve(), Path(path).resolve().parent)
    report.write(path, bench_report(result, link))
