"""Build every runner, then, per batch size, time them all interleaved: ``Timing`` results.

Ratios to the reference (Paddle Inference) come from the same run: ``p50 / reference p50``
and the paired ratio, the median over the rounds of ``t_runtime / t_reference`` within a
round, which cancels drift between rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import numpy as np

from p2o.bench.timing import DEFAULT_ITERS, DEFAULT_WARMUP, Clock, error_text, interleave
from p2o.core.results import LatencyStats, Status, Timing
from p2o.runtimes.base import Runner, Step

REFERENCE = "paddle"
Log = Callable[[str], None]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


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
            errors[label] = error_text(exc)
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
                steps[label] = runner.timed_step(feed, clock)
            except Exception as exc:
                step_errors[label] = error_text(exc)
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
