"""``p2o convert``: a zoo model or an exported Paddle model → ``model.onnx`` + ``manifest.json``.

stdout: the path of the written model.onnx (or, with --json, the manifest); the summary goes
to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from p2o.cli.options import add_model_source, add_paddle_model, source_of
from p2o.converter import ConvertOptions, convert
from p2o.converter.pipeline import DEFAULT_OPSET, INVOLUTION_BODIES, INVOLUTION_MODES
from p2o.converter.precision import (
    ACTIVATION_TYPES,
    CALIBRATION_METHODS,
    PRECISIONS,
    PrecisionOptions,
)
from p2o.converter.simplify import SIMPLIFIERS
from p2o.core import progress


def batch_arg(value: str) -> int | None:
    if value == "dynamic":
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'dynamic' or a positive integer, got {value!r}"
        ) from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"batch must be >= 1, got {n}")
    return n


def add_precision_options(p: argparse.ArgumentParser) -> None:
    """--precision fp32|fp16|int8 and the INT8 calibration options (docs/precision.md)."""
    g = p.add_argument_group("precision (docs/precision.md)")
    g.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="artifact precision: fp16 (fp32 I/O) or int8 (QDQ, post-training static)",
    )
    g.add_argument(
        "--calibration",
        metavar="DIR",
        help="int8: calibrate on these images (default: crops of the bundled photographs "
        "that verify never evaluates on)",
    )
    g.add_argument(
        "--calibration-count",
        type=int,
        default=PrecisionOptions.calibration_count,
        metavar="N",
        help=f"int8: bundled crops to calibrate on (default {PrecisionOptions.calibration_count})",
    )
    g.add_argument(
        "--calibration-method",
        choices=CALIBRATION_METHODS,
        default=PrecisionOptions.calibration_method,
        help="int8: how activation ranges are chosen (default auto: minmax; when plain minmax "
        "misses the int8 rule, percentile is calibrated too and the one closer to fp32 is "
        "searched first)",
    )
    g.add_argument(
        "--activation-type",
        choices=ACTIVATION_TYPES,
        default=PrecisionOptions.activation_type,
        help="int8: activation type (default uint8, what CPU engines fuse)",
    )
    g.add_argument(
        "--per-tensor",
        action="store_true",
        help="int8: one weight scale per tensor instead of per output channel",
    )
    g.add_argument(
        "--max-float",
        type=float,
        default=PrecisionOptions.max_float,
        metavar="FRACTION",
        help="int8: when the int8 rule fails on calibration crops, keep the fewest nodes "
        "float (those adding the most error, else those nearest the input), at most this "
        "fraction of the quantizable nodes (default "
        f"{PrecisionOptions.max_float:g}; past it: exit 1 with the per-layer table)",
    )
    g.add_argument(
        "--no-accuracy-aware",
        action="store_true",
        help="int8: write the plain quantized artifact, never judged before verify",
    )


def precision_options(args: argparse.Namespace) -> PrecisionOptions:
    return PrecisionOptions(
        precision=args.precision,
        activation_type=args.activation_type,
        calibration_method=args.calibration_method,
        calibration=args.calibration,
        calibration_count=args.calibration_count,
        per_channel=not args.per_tensor,
        max_float=args.max_float,
        accuracy_aware=not args.no_accuracy_aware,
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert to ONNX", description=__doc__)
    add_model_source(p)
    add_paddle_model(p)
    p.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    p.add_argument(
        "--batch",
        type=batch_arg,
        default=None,
        metavar="dynamic|N",
        help="batch dimension (default dynamic)",
    )
    p.add_argument(
        "--simplifier",
        choices=SIMPLIFIERS,
        default=None,
        help="graph simplifier run after paddle2onnx and the op mappings; given, it must be "
        "proved equal or nothing is written (default: onnxsim, else onnxslim, else none, each "
        "judged against the graph's own float noise; the manifest says which was used)",
    )
    p.add_argument(
        "--involution",
        choices=INVOLUTION_MODES,
        default="function",
        help="RedNet: one custom op with a function body (default) or paddle2onnx's unfold",
    )
    p.add_argument(
        "--involution-body",
        choices=INVOLUTION_BODIES,
        default="cpu",
        help="the Involution function's body: cpu (ONNX Runtime: row stack on wide maps, banded "
        "MatMul up to 28 columns; default), openvino (shifted taps on wide maps, banded MatMul "
        "up to 28 columns; p2o's OpenVINO runner picks these itself) or gpu (one-hot Conv unfold "
        "+ Mul + ReduceSum: three large kernels)",
    )
    p.add_argument(
        "--align-groups",
        type=int,
        default=0,
        metavar="BLOCK",
        help="widen grouped convolutions to multiples of BLOCK channels with zeros, where that "
        "costs at most 15%% more channels (16: ONNX Runtime CPU on AVX-512; 0: off)",
    )
    add_precision_options(p)
    p.add_argument("-o", "--out", metavar="DIR", help="output directory (default p2o-out/NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing conversion")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.model is None) == (args.paddle_model is None):
        print(
            "p2o convert: error: give exactly one of --model NAME or --paddle-model PATH",
            file=sys.stderr,
        )
        return 2
    result = convert(
        ConvertOptions(
            **source_of(args),
            out_dir=args.out,
            opset=args.opset,
            batch=args.batch,
            simplifier=args.simplifier or "onnxsim",
            strict_simplifier=args.simplifier is not None,
            involution=args.involution,
            involution_body=args.involution_body,
            align_groups=args.align_groups,
            precision=precision_options(args),
            overwrite=args.overwrite,
        )
    )
    m = result.manifest
    if args.json:
        json.dump({"onnx": str(result.onnx_path), "manifest": m.to_dict()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    say = progress.info  # the summary is for people (stderr); the data is the path (stdout)
    counts = " → ".join(f"{k} {v}" for k, v in m.node_counts.items())
    say(f"{m.model}: {result.onnx_path}  (opset {m.opset}, {m.onnx_bytes / 1e6:.1f} MB)")
    if m.opset_raised_because:
        say(f"  opset raised from {m.opset_requested} to {m.opset}: {m.opset_raised_because}")
    if m.source.get("kind") == "paddle-model":
        pp = m.source["preprocess"]
        say(f"  {m.source['format']} program {m.source['model_file']}")
        say(f"  preprocessing: {pp['source']}, input {'x'.join(map(str, pp['input_shape']))}")
    say(f"  nodes: {counts}")
    for op in m.custom_ops:
        if not op["domain"]:  # a correction in standard ops
            say(f"  corrected {op['op_type']} x{op['count']}: {op.get('function', '')}")
            continue
        bodies = ", ".join(f"{k} x{v}" for k, v in op.get("bodies", {}).items())
        say(f"  custom op {op['domain']}::{op['op_type']} x{op['count']} (bodies: {bodies})")
    if m.equivalence.get("mapping_max_rel") is not None:
        say(
            f"  involution mapping vs paddle2onnx's lowering: min tolerance "
            f"{m.equivalence['proofs']['map_ops']['min_tolerance']:.2e} "
            f"(<= {m.equivalence['tolerance']:g})"
        )
    if m.align_groups:
        widened = m.align_groups["widened"]
        sizes = sorted({f"{w['width']}->{w['padded']}" for w in widened})
        say(
            f"  align-groups {m.align_groups['block']}: {len(widened)} grouped convs widened "
            f"({', '.join(sizes) or 'none'}), {len(m.align_groups['skipped'])} left alone"
        )
    reduced = m.precision.get("precision", "fp32") != "fp32"
    graph = "the fp32 graph (before the precision pass)" if reduced else "written"
    bound = f"each pass proved <= {m.equivalence['tolerance']:g}"
    noise_tol = (m.equivalence.get("simplifier") or {}).get("noise_tolerance")
    if noise_tol is not None:  # the simplifier was judged against the graph's float noise
        bound += f"; the simplifier within its float noise, <= {noise_tol:.2g}"
    say(
        f"  {graph} vs paddle2onnx's graph: min tolerance "
        f"{m.equivalence['min_tolerance']:.2e} ({bound})"
    )
    if m.precision:
        say(f"  precision {m.precision['precision']}: {describe_precision(m.precision)}")
    if reduced:
        p = m.precision["precision"]
        say(
            f"  the {p} artifact is not equal by design: its check is {p}'s agreement rule "
            f"against Paddle fp32 (`p2o verify --onnx {result.onnx_path} ...`, docs/precision.md)"
        )
    say(f"  sha256 {m.onnx_sha256}")
    say("  stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.stage_seconds.items()))
    for note in m.notes:
        say(f"  note: {note}")
    print(result.onnx_path)
    return 0


def describe_precision(info: dict) -> str:
    d, cal = info.get("details", {}), info.get("calibration", {})
    if info.get("precision") != "int8":
        return str(info.get("method", ""))
    return (
        f"{d.get('format')} weights {d.get('weights')}, activations {d.get('activations')}, "
        f"{d.get('calibration_method')} on {cal.get('samples')} {cal.get('source')} "
        f"(sha256 {str(cal.get('sha256', ''))[:12]})"
    )
