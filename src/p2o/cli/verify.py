"""``p2o verify``: parity of an ONNX artifact with Paddle on each runtime (exit 1 when it fails)."""

from __future__ import annotations

import argparse
import json
import sys

from p2o import report
from p2o.cli.options import (
    add_model_source,
    add_paddle_model,
    int_list,
    name_list,
    source_of,
)
from p2o.converter import precision as precisions
from p2o.core.errors import UsageError
from p2o.parity.precision_debug import layer_report
from p2o.parity.verify import (
    DEFAULT_BATCHES,
    DEFAULT_RUNTIMES,
    DEFAULT_TOLERANCE,
    VerifyOptions,
    verify,
)
from p2o.report.parity import verify_report
from p2o.zoo import model_info


def tolerance_arg(value: str) -> float | str:
    """``--tolerance``: a number, or ``auto`` (a multiple of the noise floor)."""
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'auto': {value!r}") from None


def output_tolerances(values: list[str] | None) -> dict[str, float]:
    out = {}
    for v in values or []:
        name, _, tol = v.partition("=")
        try:
            out[name] = float(tol)
        except ValueError:
            raise UsageError(f"--output-tolerance wants NAME=TOL, got {v!r}") from None
    return out


def add_acceptance_options(p: argparse.ArgumentParser) -> None:
    """The agreement rule's thresholds (reduced precision) and the labelled-accuracy gate."""
    g = p.add_argument_group("reduced precision (docs/precision.md)")
    g.add_argument("--min-cosine", type=float, metavar="C", help="mean logit cosine at least C")
    g.add_argument("--min-top1", type=float, metavar="F", help="top-1 agreement at least F (0-1)")
    g.add_argument("--min-top5", type=float, metavar="F", help="top-5 containment at least F (0-1)")
    g.add_argument(
        "--max-range-error",
        type=float,
        metavar="F",
        help="max |a-r| at most F times the sample's logit range",
    )
    g.add_argument("--min-samples", type=int, metavar="N", help="compare at least N samples")
    g.add_argument(
        "--labels",
        metavar="DIR|LIST",
        help="labelled images (ImageFolder, or a PaddleClas 'path label' list): accuracy",
    )
    g.add_argument("--class-list", metavar="FILE", help="class names of --labels (index name)")
    g.add_argument(
        "--max-accuracy-drop",
        type=float,
        metavar="POINTS",
        help="fail an engine whose top-1 accuracy is more than POINTS below the reference's",
    )


def rule_overrides(args: argparse.Namespace) -> dict[str, float | int]:
    keys = ("min_cosine", "min_top1", "min_top5", "max_range_error", "min_samples")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="prove the ONNX file computes what Paddle computes", description=__doc__
    )
    add_model_source(p)
    p.add_argument("--onnx", metavar="FILE", help="the ONNX file to verify")
    add_paddle_model(p, help_suffix=" (the reference)")
    p.add_argument("--golden", metavar="F.npz", help="reference: saved golden outputs (no Paddle)")
    p.add_argument("--save-golden", metavar="F.npz", help="save inputs + reference outputs")
    p.add_argument(
        "--tolerance",
        type=tolerance_arg,
        default=DEFAULT_TOLERANCE,
        metavar="T|auto",
        help=f"per-element bound (default {DEFAULT_TOLERANCE:g}); auto: 10x the measured noise "
        "floor, never below 1e-4 (see docs/verify.md)",
    )
    p.add_argument(
        "--repro",
        metavar="DIR",
        help="when verify fails: write the smallest ONNX subgraph that still diverges, with "
        "Paddle's inputs and expected outputs, in ONNX's test-data layout (an empty or new DIR)",
    )
    p.add_argument(
        "--output-tolerance",
        action="append",
        metavar="NAME=TOL",
        help="a tolerance for one output (repeatable)",
    )
    p.add_argument(
        "--runtimes",
        type=name_list,
        default=list(DEFAULT_RUNTIMES),
        help=f"comma-separated (default {','.join(DEFAULT_RUNTIMES)}; see `p2o runtimes`)",
    )
    p.add_argument(
        "--inputs",
        default="samples",
        help="samples (default: photographs), random[:N], an image folder, or .npz/.npy",
    )
    p.add_argument(
        "--batch",
        type=int_list,
        default=list(DEFAULT_BATCHES),
        metavar="1,4,8",
        help="batch sizes (default 1,4)",
    )
    p.add_argument(
        "--precision",
        choices=precisions.ENGINE,
        default="fp32",
        help="what the engines compute in (bf16: OpenVINO's hint on the fp32 artifact); an "
        "fp16/int8 artifact is recognised by itself",
    )
    add_acceptance_options(p)
    p.add_argument(
        "--precision-debug",
        metavar="FP32.onnx",
        help="with an fp16/int8 artifact: the error each reduced node adds against this fp32 "
        "model (the one it was made from), largest first, in the report and the JSON",
    )
    p.add_argument("--threads", type=int, default=2, help="threads of every CPU engine (default 2)")
    p.add_argument("--strict", action="store_true", help="a skipped runtime fails the check")
    p.add_argument(
        "--work-dir", metavar="DIR", help="where --model conversions go (default p2o-out)"
    )
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--report", metavar="FILE", help="write a .md or .html report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.report:
        report.check_path(args.report)  # before the run: a wrong name costs nothing
    result = verify(
        VerifyOptions(
            **source_of(args),
            onnx_file=args.onnx,
            golden=args.golden,
            save_golden=args.save_golden,
            tolerance=args.tolerance,
            output_tolerances=output_tolerances(args.output_tolerance),
            repro=args.repro,
            runtimes=args.runtimes,
            inputs=args.inputs,
            batches=args.batch,
            precision=args.precision,
            threads=args.threads,
            strict=args.strict,
            work_dir=args.work_dir,
            rule_overrides=rule_overrides(args),
            labels=args.labels,
            class_list=args.class_list,
            max_accuracy_drop=args.max_accuracy_drop,
        )
    )
    if args.precision_debug:
        pp = model_info(args.model).preprocess if getattr(args, "model", None) else None
        result.layer_errors = layer_report(result.onnx_file, args.precision_debug, pp)
    page = verify_report(result)
    if args.junit:
        report.write_atomic(args.junit, report.junit.render(page))
    if args.report:
        report.write(args.report, page)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(report.text.render(page))
    return result.exit_code
