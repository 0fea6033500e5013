"""``p2o release``: convert, verify (and bench) many models into one checked, checksummed DIST.

``p2o release merge SHARD_DIR ... --out DIST`` joins the outputs of ``--shard K/N`` jobs.
"""

from __future__ import annotations

import argparse
import sys

from p2o import release as rel
from p2o.cli.verify import int_list, name_list
from p2o.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "release",
        help="release gate over many models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "merge",
        nargs="*",
        metavar="merge DIR",
        help="`merge DIR [DIR ...]`: join shard outputs into --out",
    )
    p.add_argument(
        "--models",
        metavar="PATTERN|NAMES|FILE",
        help="fnmatch pattern, comma-separated names, or a file of names",
    )
    p.add_argument("--weights-dir", metavar="DIR", help="<model>_pretrained.pdparams files")
    p.add_argument("--out", default="dist", metavar="DIST", help="output directory (default dist)")
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--runtimes", type=name_list, default=list(rel.DEFAULT_RUNTIMES))
    p.add_argument("--batch", type=int_list, default=[1, 4], metavar="1,4")
    p.add_argument(
        "--bench",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also benchmark each model (default off)",
    )
    p.add_argument("--jobs", type=int, default=1, help="models in parallel, one process each")
    p.add_argument("--shard", metavar="K/N", help="run the K-th of N disjoint slices")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.merge:
        if args.merge[0] != "merge" or len(args.merge) < 2:
            raise UsageError("usage: p2o release merge SHARD_DIR [SHARD_DIR ...] --out DIST")
        summary = rel.merge(args.merge[1:], args.out)
    else:
        if not args.models:
            raise UsageError("--models is required (a pattern such as '*', names, or a file)")
        options = rel.ReleaseOptions(
            tolerance=args.tolerance,
            runtimes=tuple(args.runtimes),
            batches=tuple(args.batch),
            bench=args.bench,
            strict=args.strict,
            seed=args.seed,
            align_groups=args.align_groups,
        )
        summary = rel.release(
            args.models,
            out=args.out,
            weights_dir=args.weights_dir,
            options=options,
            jobs=args.jobs,
            shard_spec=args.shard,
            resume=args.resume,
        )
    records = [rel.ModelRecord.from_dict(m) for m in summary["models"]]
    print(rel.markdown(records, summary))
    c = summary["counts"]
    verdict = "PASSED" if summary["passed"] else "FAILED"
    print(
        f"{verdict}: {c['passed']} passed, {c['failed']} failed, {c['error']} errors "
        f"→ {args.out}/release.json, report.html, junit.xml, SHA256SUMS",
        file=sys.stderr,
    )
    return 0 if summary["passed"] else 1
