"""Timing on a shared, noisy machine: warm-up, then the steps round-robin (A B C A B C ...).

A step is a callable (``Runner.timed_step``); one that times itself returns a ``Split``
(compute seconds, transfers apart). The clock is injectable, so the statistics can be tested
without sleeping. Also: the spin-wait guard and what machine this ran on.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from p2o.core.errors import UsageError
from p2o.runtimes.base import Split, Step

DEFAULT_WARMUP = 5
DEFAULT_ITERS = 30
SPIN_ENV = {"KMP_BLOCKTIME": "0"}
"""Environment that stops OpenMP threads spinning after a call (set unless already set)."""
RECORDED_ENV = ("KMP_BLOCKTIME", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")

Clock = Callable[[], float]

__all__ = ["Clock", "Interleaved", "Split", "Step", "interleave", "machine_info", "no_spin_env"]


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


def error_text(exc: BaseException) -> str:
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
            errors[name] = error_text(exc)
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
