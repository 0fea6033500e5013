"""``p2o bench``: latency of a model on several runtimes, interleaved, beside the Paddle reference.

Warm-up excluded; p50/p90/p99/mean/min/max, IQR, p90/p50 and images/s per runtime and
batch size; session build time apart; ratios to paddle from the same run. The report puts
the published V100/T4 TensorRT figures beside the measured ones, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from p2o import bench, report
from p2o.bench import plot
from p2o.bench import precisions as pv
from p2o.bench.precisions import speedup_lines
from p2o.cli.options import (
    add_model_source,
    add_paddle_model,
    source_of,
    usage_int_list,
    weights_of,
)
from p2o.converter import precision as precisions
from p2o.core import progress
from p2o.core.errors import UsageError
from p2o.report.bench import bench_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure latency per runtime and batch size",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_source(p)
    p.add_argument("--onnx", metavar="FILE", help="an ONNX file to benchmark (instead of --model)")
    add_paddle_model(p, help_suffix=", with --onnx: for the paddle runtimes and the input size")
    p.add_argument(
        "--runtimes",
        metavar="A,B",
        help=f"comma-separated (default {','.join(bench.DEFAULT_RUNTIMES)}; see `p2o runtimes`)",
    )
    p.add_argument("--batch", default="1", metavar="1,4,8", help="batch sizes (default 1)")
    p.add_argument(
        "--threads",
        type=int,
        default=bench.DEFAULT_THREADS,
        help=f"threads of every CPU engine (default {bench.DEFAULT_THREADS})",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=bench.DEFAULT_WARMUP,
        help=f"untimed runs per runtime and batch size (default {bench.DEFAULT_WARMUP})",
    )
    n = p.add_mutually_exclusive_group()
    n.add_argument("--iters", type=int, help=f"timed rounds (default {bench.DEFAULT_ITERS})")
    n.add_argument("--seconds", type=float, help="time each batch size for S seconds instead")
    p.add_argument(
        "--precision",
        choices=precisions.ENGINE,
        default="fp32",
        help="engine precision of every runtime (default fp32)",
    )
    p.add_argument(
        "--precisions",
        metavar="fp32,int8,fp16,bf16",
        help="also measure these precisions beside each runtime's fp32, same run, with the "
        "speed-up (int8/fp16: artifacts made from --model or given by --artifact; bf16: "
        "the runtime hint; docs/precision.md)",
    )
    p.add_argument(
        "--artifact",
        action="append",
        metavar="PREC=FILE",
        help="with --precisions: the int8/fp16 artifact to measure (repeatable)",
    )
    p.add_argument(
        "--work-dir", metavar="DIR", help="where --model conversions go (default p2o-out)"
    )
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    p.add_argument("--report", metavar="FILE", help="write a .md or .html report")
    p.add_argument("--plot", metavar="FILE.png", help="write a latency plot (PNG)")
    p.set_defaults(func=run)


def _log(msg: str) -> None:
    progress.info(f"p2o bench: {msg}")  # stderr; silent with -q


def _precision_variants(args: argparse.Namespace, runtimes: list[str] | None) -> dict:

    wanted = pv.parse(args.precisions)
    artifacts = {}
    for item in args.artifact or []:
        prec, _, path = item.partition("=")
        if prec not in ("int8", "fp16") or not path:
            raise UsageError(f"--artifact wants int8=FILE or fp16=FILE, got {item!r}")
        artifacts[prec] = Path(path)
    if args.model is not None:
        for p in wanted:
            if p in ("int8", "fp16") and p not in artifacts:
                _log(f"{args.model}: {p} artifact (converting or reusing) ...")
                artifacts[p] = pv.ensure_artifact(
                    args.model, p, weights_of(args), args.seed, args.work_dir
                )
    names = runtimes or [n for n in bench.DEFAULT_RUNTIMES if n != "paddle"]
    return pv.variant_runners(names, wanted, artifacts, args.threads)


def run(args: argparse.Namespace) -> int:

    bench.no_spin_env()  # before any Paddle inference: see docs/bench.md, spin-waits
    if args.report:
        report.check_path(args.report)
    if args.plot:
        plot.check_plot_path(args.plot)
    runtimes = None
    if args.runtimes is not None:
        runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
        if not runtimes:
            raise UsageError(f"--runtimes: no runtime in {args.runtimes!r}")
    extra = None
    if args.precisions:
        extra = _precision_variants(args, runtimes)
    result = bench.benchmark(
        bench.BenchOptions(
            **source_of(args),
            onnx_file=args.onnx,
            runtimes=runtimes,
            batches=usage_int_list(args.batch, "batch"),
            threads=args.threads,
            warmup=args.warmup,
            iters=args.iters,
            seconds=args.seconds,
            precision=args.precision,
            work_dir=args.work_dir,
        ),
        log=_log,
        extra_runners=extra,
    )
    if extra:
        result.notes.extend(speedup_lines(result))
    if args.plot:
        _log(f"plot: {plot.plot_latency([result], args.plot)}")
    if args.report:
        report.write(args.report, bench_report(result, report.link(args.plot, args.report)))
        _log(f"report: {args.report}")
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(report.text.render(bench_report(result)))
    return 0
