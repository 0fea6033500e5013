"""INT8 artifact: post-training static quantization into QDQ form.

ONNX Runtime's ``quantize_static``: weights int8 per output channel (symmetric), activations
uint8 by default (asymmetric; the form CPU engines fuse into integer convolutions: with int8
activations ONNX Runtime leaves many convolutions dequantized and fp32, measured slower than
fp32), calibrated with MinMax by default on ``calibration_count`` crops of the bundled
photographs that are never among verify's evaluation crops (``p2o.zoo.crops``), or on every
image of a folder; percentile when MinMax cannot pass the int8 rule (``AUTO_CALIBRATION``). The
same model, options and calibration images give the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o.converter import ops
from p2o.converter.precision import layer_error
from p2o.converter.precision.base import (
    AUTO_CALIBRATION,
    Precision,
    PrecisionInfo,
    PrecisionOptions,
)
from p2o.core.agreement import judge, measure
from p2o.core.errors import EnvironmentProblem, UsageError
from p2o.core.files import temporary_folder
from p2o.core.results import AgreementRule, LayerError
from p2o.zoo import crops
from p2o.zoo.inputs import folder_batch

FORMAT = "QDQ"
FLOAT_IN_FUNCTIONS = ("Pad", "Split")
MATMUL_LIKE = ("Conv", "Gemm", "MatMul")  # what a model with an involution body quantizes


def calibration_inputs(options: PrecisionOptions, preprocess: Any) -> tuple[np.ndarray, str]:
    """The calibration images, preprocessed, and a description of where they came from."""

    if options.calibration is not None:
        x = folder_batch(options.calibration, preprocess)
        return x, f"images of {Path(options.calibration).resolve()}"
    x = crops.crop_batch("calibration", options.calibration_count, preprocess)
    return x, "calibration crops of the bundled photographs (disjoint from verify's)"


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization warns through the root logger ("consider pre-processing")."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _reader(name: str, x: np.ndarray) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.set_range(0, len(x))

        def __len__(self) -> int:
            return len(x)

        def set_range(self, start_index: int, end_index: int) -> None:  # a chunk (see at_once)
            self._next = iter(range(start_index, end_index))

        def get_next(self) -> dict[str, np.ndarray] | None:
            i = next(self._next, None)
            return None if i is None else {name: x[i : i + 1]}

    return Reader()


# ORT's histogram calibrators (entropy, percentile, distribution) hold every calibrated
# activation of every crop until they histogram them all. Past this many bytes the crops go
# in chunks (ORT's CalibStridedMinMax, which strides any calibrator; the chunks' histograms are
# merged, so the ranges differ a little from one pass). Every model that calibrated in one pass
# before still does, byte for byte: the largest, Res2Net200_vd_26w_4s, holds 394 MiB a crop,
# 12.3 GiB for 32. RedNet152 (780 MiB a crop, 24.4 GiB) was killed at 24 GiB; it takes 2 x 16.
HISTOGRAM_BYTES = int(12.5 * 2**30)
HISTOGRAM_METHODS = ("entropy", "percentile", "distribution")


def activation_bytes(model: onnx.ModelProto, feed: str, x: np.ndarray, op_types: Any) -> int:
    """Bytes of float activations a calibrator records for one crop: the inputs and outputs of
    the nodes it calibrates (``op_types``; None: every node), measured by one run."""
    initializers = {t.name for t in model.graph.initializer}
    nodes = [n for n in model.graph.node if op_types is None or n.op_type in op_types]
    names = {t for n in nodes for t in [*n.input, *n.output] if t and t not in initializers}
    names -= {feed}
    outs = layer_error.tensors(model, sorted(names), x[:1])
    return int(sum(o.nbytes for o in outs if o.dtype == np.float32))


def at_once(count: int, per_crop: int, limit: int) -> int:
    """Crops a histogram calibrator takes at once: all when they fit ``limit``, else the most
    that fit and divide ``count`` (ORT wants equal chunks), at least 1."""
    if count * per_crop <= limit:
        return count
    return max([d for d in range(1, count + 1) if count % d == 0 and d * per_crop <= limit] or [1])


def quantize(
    model: onnx.ModelProto, options: PrecisionOptions, preprocess: Any = None
) -> tuple[onnx.ModelProto, PrecisionInfo]:
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError as exc:  # onnxruntime.quantization needs ml_dtypes and sympy too
        raise EnvironmentProblem(
            f"--precision int8 needs onnxruntime.quantization ({exc}); "
            "pip install 'p2o-proof[precision]'"
        ) from exc

    source = ops.inline(model) if model.functions else model
    # RedNet's involution body (a model-local function, inlined above): only convolutions and
    # matrix products are quantized, and the body's Pad and Split stay float. Quantizing every
    # op, OpenVINO 2026.4 refuses to compile the model (its low-precision transformations on a
    # Pad, then on the banded MatMul's Subtract: "Argument shapes are inconsistent"); keeping
    # the whole body float it refuses too ("No suitable implementations"). This one compiles,
    # and on RedNet26 it is more accurate (cosine 0.9946 vs 0.9936 on calibration crops) and
    # faster on ONNX Runtime (0.94x vs 0.84x fp32) than quantizing every op (docs/precision.md).
    keep_float = (
        [n.name for n in source.graph.node if n.op_type in FLOAT_IN_FUNCTIONS]
        if model.functions
        else []
    )
    op_types = {"op_types_to_quantize": list(MATMUL_LIKE)} if model.functions else {}
    initializers = {t.name for t in source.graph.initializer}
    feeds = [i for i in source.graph.input if i.name not in initializers]
    if len(feeds) != 1:
        raise UsageError(f"INT8 calibration wants a model with one input, got {len(feeds)}")
    x, where = calibration_inputs(options, preprocess)
    dims = [d.dim_value for d in feeds[0].type.tensor_type.shape.dim[1:]]
    if all(dims) and tuple(dims) != tuple(x.shape[1:]):
        raise UsageError(
            f"calibration images preprocess to {list(x.shape[1:])}; the model wants {dims}"
        )
    calibrations = (
        AUTO_CALIBRATION if options.calibration_method == "auto" else (options.calibration_method,)
    )

    chunks: dict[str, int] = {}  # the histogram methods' chunking, measured once if needed

    def calibrated(method: str) -> onnx.ModelProto:
        feed = feeds[0].name
        if method in HISTOGRAM_METHODS and not chunks:
            per_crop = activation_bytes(source, feed, x, op_types.get("op_types_to_quantize"))
            chunks.update(per_crop=per_crop, at_once=at_once(len(x), per_crop, HISTOGRAM_BYTES))
        crops_at_once = chunks["at_once"] if method in HISTOGRAM_METHODS else len(x)
        return _calibrated(source, feed, x, method, options, keep_float, op_types, crops_at_once)

    judged = _judged(source, options, preprocess) if options.accuracy_aware else None
    candidates = _candidates(calibrated, calibrations, judged)
    method, out, aware, missed = _first_passing(candidates, source, options, judged)
    granularity = "per channel" if options.per_channel else "per tensor"
    info = PrecisionInfo(
        "int8",
        f"onnxruntime.quantization.quantize_static ({FORMAT}, post-training static)",
        {
            "format": FORMAT,
            "weights": f"int8, symmetric, {granularity}",
            "activations": f"{options.activation_type}, asymmetric",
            "calibration_method": method,
            **_chunked(method, chunks, len(x)),
            **_compared(candidates, missed),
            "quantized_nodes": sum(n.op_type == "QuantizeLinear" for n in out.graph.node),
            "kept_float": f"{len(keep_float)} Pad/Split nodes of inlined functions",
            "op_types": list(MATMUL_LIKE) if op_types else "all the quantizer supports",
            "tool": f"onnxruntime {metadata.version('onnxruntime')}",
            **({"accuracy_aware": aware} if aware else {}),
        },
        {"source": where, "samples": len(x), "sha256": crops.digest(x)},
    )
    return out, info


@dataclass(frozen=True)
class _Judged:
    """The crops the accuracy-aware pass judges on, where they come from, and the fp32 model's
    outputs on them (run once for every calibration and every try)."""

    x: np.ndarray
    where: str
    ref: np.ndarray


def _judged(source: onnx.ModelProto, options: PrecisionOptions, preprocess: Any) -> _Judged:
    x, where = judging_inputs(options, preprocess)
    return _Judged(x, where, layer_error.run(source, x))


def _first_passing(
    candidates: list[tuple[str, onnx.ModelProto, float | None]],
    source: onnx.ModelProto,
    options: PrecisionOptions,
    judged: _Judged | None,
) -> tuple[str, onnx.ModelProto, dict[str, Any], list[str]]:
    """The first candidate the accuracy-aware pass makes pass (all as they are when it is off,
    ``judged`` None): (method, artifact, the pass's record, the calibrations that missed)."""
    method, out, _ = candidates[0]
    if judged is None:
        return method, out, {}, []
    missed: list[str] = []
    for method, out, _ in candidates:
        try:
            return (method, *_accuracy_aware(source, out, options, judged), missed)
        except layer_error.BudgetExceeded as exc:
            missed.append(f"{method}: {exc.why.removeprefix('int8: ')}")
            last = exc
    tried = f" (calibrations tried: {', '.join(m for m, _, _ in candidates)})" if missed[1:] else ""
    raise layer_error.BudgetExceeded(f"{last.why}{tried}", last.report, last.best)


def _chunked(method: str, chunks: dict[str, int], count: int) -> dict[str, str]:
    """The manifest's note when a histogram method took the crops in chunks (see at_once)."""
    if method not in HISTOGRAM_METHODS or chunks.get("at_once", count) == count:
        return {}
    n, mib = chunks["at_once"], chunks["per_crop"] / 2**20
    return {
        "calibration_chunks": f"{count // n} chunks of {n} crops ({mib:.0f} MiB of activations "
        f"a crop; the histograms of at most {HISTOGRAM_BYTES / 2**30:g} GiB at once, merged)"
    }


def _compared(
    candidates: list[tuple[str, onnx.ModelProto, float | None]], missed: list[str]
) -> dict[str, Any]:
    """The manifest's record of the calibrations compared (none when only one was made)."""
    if len(candidates) < 2:
        return {}
    out: dict[str, Any] = {
        "calibrations_compared": [
            {"method": m, "plain_cosine": c, "judged_on": "the accuracy-aware pass's crops"}
            for m, _, c in candidates
        ]
    }
    return {**out, "calibrations_missed": missed} if missed else out


def _candidates(
    calibrated: Callable[[str], onnx.ModelProto],
    calibrations: tuple[str, ...],
    judged: _Judged | None,
) -> list[tuple[str, onnx.ModelProto, float | None]]:
    """(method, quantized model, plain mean cosine) to try, best first: the first calibration
    alone (cosine None) when there is one, when the pass is off, or when it passes the int8 rule
    on the judging crops as it is; else every calibration, ordered by its plain mean cosine
    there."""
    first = calibrated(calibrations[0])
    if len(calibrations) == 1 or judged is None:
        return [(calibrations[0], first, None)]
    assert PRECISION.rule is not None
    plain = measure(judged.ref, layer_error.run(first, judged.x))
    if not judge(plain, PRECISION.rule):
        return [(calibrations[0], first, None)]
    scored = [(plain.cosine, 0, calibrations[0], first)]
    for i, method in enumerate(calibrations[1:], 1):
        out = calibrated(method)
        scored.append((measure(judged.ref, layer_error.run(out, judged.x)).cosine, i, method, out))
    return [(m, out, c) for c, _, m, out in sorted(scored, key=lambda t: (-t[0], t[1]))]


def _calibrated(
    source: onnx.ModelProto,
    feed: str,
    x: np.ndarray,
    method: str,
    options: PrecisionOptions,
    keep_float: list[str],
    op_types: dict[str, list[str]],
    crops_at_once: int,
) -> onnx.ModelProto:
    """``source`` quantized by ``quantize_static`` (QDQ), calibrated by ``method`` on ``x``,
    ``crops_at_once`` at a time (all: one pass, as ORT does by default)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
        "distribution": CalibrationMethod.Distribution,
    }
    activation = QuantType.QUInt8 if options.activation_type == "uint8" else QuantType.QInt8
    with (
        temporary_folder("p2o-int8-") as tmp,
        _quiet_root_logger(),
        contextlib.redirect_stdout(io.StringIO()),  # its histogram methods print progress
    ):
        fp32_path = Path(tmp) / "fp32.onnx"
        out_path = Path(tmp) / "int8.onnx"
        onnx.save_model(source, str(fp32_path))
        quantize_static(
            str(fp32_path),
            str(out_path),
            _reader(feed, x),
            quant_format=QuantFormat.QDQ,
            per_channel=options.per_channel,
            activation_type=activation,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[method],
            calibration_providers=["CPUExecutionProvider"],
            nodes_to_exclude=keep_float,
            **op_types,
            **(
                {"extra_options": {"CalibStridedMinMax": crops_at_once}}
                if crops_at_once < len(x)
                else {}
            ),
        )
        return onnx.load(str(out_path))


def judging_inputs(options: PrecisionOptions, preprocess: Any) -> tuple[np.ndarray, str]:
    """The images the accuracy-aware pass judges on: never verify's evaluation crops.

    The bundled photos: as many calibration crops as the rule wants samples (the first
    ``calibration_count`` of them are the crops calibrated on); a folder: all its images.
    """
    if options.calibration is not None:
        return calibration_inputs(options, preprocess)
    count = max(PRECISION.rule.min_samples if PRECISION.rule else 64, options.calibration_count)
    x = crops.crop_batch("calibration", count, preprocess)
    return x, f"{count} calibration crops of the bundled photographs (disjoint from verify's)"


def _accuracy_aware(
    source: onnx.ModelProto, quantized: onnx.ModelProto, options: PrecisionOptions, judged: _Judged
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The INT8 artifact, with its worst nodes kept float if the rule fails without that.

    The int8 rule judges the artifact against the fp32 model's own outputs (which are the
    Paddle model's within the converter's proved tolerance) on calibration crops; when it
    fails, ``layer_error.search`` keeps the fewest nodes float, those adding the most error
    first, else those nearest the input, within ``options.max_float`` of the quantizable nodes
    (past it: BudgetExceeded, exit 1).
    """
    assert PRECISION.rule is not None
    x, where = judged.x, judged.where
    found = layer_error.search(
        source, quantized, x, PRECISION.rule, options.max_float, inputs=where, ref=judged.ref
    )
    table = found.report.layers if found.report is not None else []
    depth = {name: i for i, name in enumerate(found.kept_float)}
    record = {
        "rule": PRECISION.rule.describe(),
        "aim": layer_error.with_margin(PRECISION.rule, len(x)).describe()
        + " (the rule, its rates one standard error higher: what nodes are kept float for)",
        "judged_on": where,
        "reference": "the fp32 ONNX model (the Paddle model's within the proved tolerance)",
        "quantizable_nodes": found.quantizable,
        "budget": f"{found.budget} nodes ({options.max_float:.0%} of the quantizable)",
        "rankings": list(layer_error.RANKINGS),
        "ranking": found.ranking or None,
        "plain": found.plain.to_dict(),
        "final": found.final.to_dict(),
        "tries": [
            {**({"ranking": r} if r else {}), "kept_float": k, "cosine": m.cosine, "top1": m.top1}
            for r, k, m in found.attempts
        ],
        "nodes_kept_float": [
            {**e.to_dict(), "why": _why(e, i, len(table), found.ranking, depth)}
            for i, e in enumerate(table)
            if e.kept_float
        ],
    }
    return found.model, record


def _why(e: LayerError, rank: int, of: int, ranking: str, depth: dict[str, int]) -> str:
    cost = (
        f"adds {e.added:.3g} of cosine distance (its output's cosine {e.cosine:.5f}, its "
        f"inputs' {e.upstream_cosine:.5f}): rank {rank + 1} of {of}"
    )
    if ranking == "depth":
        return (
            f"quantizable node {depth[e.node] + 1} from the input ({cost}); keeping the nodes "
            "adding the most error float missed the rule within the budget, and the int8 rule "
            "failed without the nodes nearest the input"
        )
    return f"{cost}; the int8 rule failed without it"


def scale_weight_scale(model: onnx.ModelProto, factor: float = 4.0, index: int = -1) -> str:
    """Multiply one convolution's weight scale by ``factor``, in place; returns its name.

    A deliberately broken quantization, for proving that the acceptance rule fails it: the
    convolution's weights dequantize ``factor`` times too large. ``index`` picks among the
    weight scales of Conv nodes in graph order (default: the middle one when -1).
    """
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    scales = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        dq = producers.get(node.input[1])
        if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[1] in inits:
            scales.append(dq.input[1])
    if not scales:
        raise ValueError("no quantized convolution weight in the model")
    name = scales[len(scales) // 2 if index == -1 else index]
    tensor = inits[name]
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * factor, name))
    return name


# Correct artifacts, one model per family (64 crops, AMD EPYC, synthetic weights;
# docs/precision.md): cosine 0.9903-0.9951, top-1 78.1-87.5 %, top-5 98.4-100 %, range error
# <= 0.176 (ReXNet_1_0 0.970 / 62-66 % / 0.276 fails, as it should). One weight scale x4:
# cosine 0.43-0.98, range error 0.19-1.32; one crop of calibration: 0.95.
PRECISION = Precision(
    name="int8",
    make=quantize,
    engine=False,  # an artifact; TensorRT builds INT8 engines from it (acceptance.Rules)
    rule=AgreementRule("int8", 0.98, 0.70, 0.95, 0.25),
    native=("ort-cpu", "openvino", "ort-trt"),
    about="QDQ post-training static quantization (integer kernels on VNNI/AMX CPUs)",
)
