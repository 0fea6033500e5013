"""The bench stage (``p2o bench``): the same input through several runtimes, interleaved.

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
timed with IO binding and a device synchronisation, host↔device copies apart (the runner's
own ``timed_step``, ``runtimes/onnxruntime.py``); where no GPU is available they are listed
as skipped, with the reason.

The clock is injectable (``clock=``) so the statistics can be tested without sleeping.

The room: ``timing`` (warm-up, round-robin interleaving, spin-wait guard, machine info),
``measure`` (runners → ``Timing`` results and ratios), ``feeds`` (what an ONNX file expects,
seeded random inputs), ``command`` (``benchmark``: arguments, subject, skips, the run). The
statistics are ``p2o.core.results.LatencyStats``; rendering is ``p2o.report.bench``.
"""

from p2o.bench.command import (
    DEFAULT_BATCHES,
    DEFAULT_RUNTIMES,
    DEFAULT_THREADS,
    BenchOptions,
    benchmark,
    validate,
)
from p2o.bench.feeds import OnnxInput, check_batches, feed_shapes, onnx_inputs, random_feed
from p2o.bench.measure import REFERENCE, measure_runners
from p2o.bench.timing import (
    DEFAULT_ITERS,
    DEFAULT_WARMUP,
    SPIN_ENV,
    Interleaved,
    interleave,
    machine_info,
    no_spin_env,
)
from p2o.core.results import PUBLISHED_LABEL, BenchResult, LatencyStats, Timing
from p2o.runtimes.base import Split, Step

__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_ITERS",
    "DEFAULT_RUNTIMES",
    "DEFAULT_THREADS",
    "DEFAULT_WARMUP",
    "PUBLISHED_LABEL",
    "REFERENCE",
    "SPIN_ENV",
    "BenchOptions",
    "BenchResult",
    "Interleaved",
    "LatencyStats",
    "OnnxInput",
    "Split",
    "Step",
    "Timing",
    "benchmark",
    "check_batches",
    "feed_shapes",
    "interleave",
    "machine_info",
    "measure_runners",
    "no_spin_env",
    "onnx_inputs",
    "random_feed",
    "validate",
]
