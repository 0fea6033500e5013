"""``p2o release``: convert, verify (and bench) many models into one checked, checksummed DIST.

``p2o release merge SHARD_DIR ... --out DIST`` joins the outputs of ``--shard K/N`` jobs.
Exit code 0 when every model passed, 1 when one failed or errored (``DIST/junit.xml`` counts
it), 2 for a usage error, 3 for an internal error, 130/143 when interrupted or terminated.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from p2o import release as rel
from p2o import report
from p2o.bench.precisions import parse
from p2o.cli import _common
from p2o.cli.options import int_list, name_list
from p2o.converter.precision import PrecisionOptions
from p2o.core.errors import UsageError
from p2o.report.release import release_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "release",
        help="release gate over many models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="merge", required=False)
    m = actions.add_parser(
        "merge",
        help="join the outputs of --shard K/N runs into one release",
        description="Join the model directories of shard outputs into one DIST and write its "
        "release.json, SHA256SUMS, junit.xml and reports.",
    )
    m.add_argument("dirs", nargs="+", metavar="SHARD_DIR", help="outputs of --shard runs")
    m.add_argument("--out", required=True, metavar="DIST", help="the merged release")
    m.set_defaults(func=run_merge)
    _common.add_common(p)  # a parser with a subcommand does not get them from finish()
    p.add_argument(
        "--models",
        metavar="PATTERN|NAMES|FILE",
        help="fnmatch pattern, comma-separated names, or a file of names",
    )
    p.add_argument("--weights-dir", metavar="DIR", help="<model>_pretrained.pdparams files")
    p.add_argument("--out", default="dist", metavar="DIST", help="output directory (default dist)")
    p.add_argument(
        "--tolerance", type=float, default=1e-4, help="verify's tolerance (default 1e-4)"
    )
    p.add_argument(
        "--runtimes",
        type=name_list,
        default=list(rel.DEFAULT_RUNTIMES),
        help=f"runtimes to verify on (default {','.join(rel.DEFAULT_RUNTIMES)})",
    )
    p.add_argument(
        "--batch", type=int_list, default=[1, 4], metavar="1,4", help="batch sizes (default 1,4)"
    )
    p.add_argument(
        "--bench",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also benchmark each model (default off)",
    )
    p.add_argument("--jobs", type=int, default=1, help="models in parallel, one process each")
    p.add_argument("--shard", metavar="K/N", help="run the K-th of N disjoint slices")
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: processes here (--jobs); ray: a Ray task per model (the ray extra)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="with --executor ray: the cluster (HOST:PORT; default $RAY_ADDRESS, else a Ray "
        "instance started here)",
    )
    p.add_argument("--resume", action="store_true", help="skip models already released as is")
    p.add_argument("--strict", action="store_true", help="a skipped runtime fails the model")
    p.add_argument("--seed", type=int, default=0, help="seed of synthetic weights")
    p.add_argument(
        "--align-groups",
        type=int,
        default=0,
        metavar="BLOCK",
        help="convert with --align-groups BLOCK (artifacts for ONNX Runtime on CPU; default off)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        metavar="fp32,int8",
        help="precisions to release per model: fp32 plus int8/fp16 artifacts (int8/model.onnx) "
        "and bf16 (OpenVINO's hint), each verified against Paddle fp32 (docs/precision.md)",
    )
    p.add_argument(
        "--max-float",
        type=float,
        default=PrecisionOptions.max_float,
        metavar="FRACTION",
        help="int8: the accuracy-aware pass's budget, as p2o convert --max-float (default "
        f"{PrecisionOptions.max_float:g})",
    )
    p.set_defaults(func=run)


def run_merge(args: argparse.Namespace) -> int:
    return _finish(rel.merge(args.dirs, args.out), args.out)


def parse_precisions(value: str) -> list[str]:

    return parse(value)


def run(args: argparse.Namespace) -> int:
    if not args.models:
        raise UsageError("--models is required (a pattern such as '*', names, or a file)")
    if args.ray_address and args.executor != "ray":
        raise UsageError("--ray-address needs --executor ray")
    options = rel.ReleaseOptions(
        tolerance=args.tolerance,
        runtimes=tuple(args.runtimes),
        batches=tuple(args.batch),
        bench=args.bench,
        strict=args.strict,
        seed=args.seed,
        align_groups=args.align_groups,
        precisions=tuple(parse_precisions(args.precision)),
        max_float=args.max_float,
    )
    summary = rel.release(
        args.models,
        out=args.out,
        weights_dir=args.weights_dir,
        options=options,
        jobs=args.jobs,
        shard_spec=args.shard,
        resume=args.resume,
        engine=args.executor,
        ray_address=args.ray_address,
    )
    return _finish(summary, args.out)


def _finish(summary: rel.ReleaseSummary, out: str) -> int:

    page = release_report(summary)
    print(report.text.render(dataclasses.replace(page, sections=page.sections[:1])))
    c = summary.counts
    verdict = "PASSED" if summary.passed else "FAILED"
    print(
        f"{verdict}: {c['passed']} passed, {c['failed']} failed, {c['error']} errors "
        f"→ {out}/release.json, report.html, junit.xml, SHA256SUMS",
        file=sys.stderr,
    )
    return summary.exit_code
