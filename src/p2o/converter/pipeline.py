"""The conversion pipeline: export → paddle2onnx (isolated) → op mappings → check → simplify.

Everything is built in a temporary directory; ``model.onnx`` and ``manifest.json`` reach
the output directory only after every step passed, each written whole (temp + rename),
the manifest last: a directory without a manifest holds no finished conversion.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o import __version__
from p2o.converter import boundary, export, paddle2onnx, simplify
from p2o.converter.align_groups import align_groups as align_groups_pass
from p2o.converter.manifest import Manifest, TensorSpec, tool_versions, write_atomic
from p2o.converter.ops.involution_match import Lowering, find_lowerings
from p2o.converter.precision import PrecisionOptions
from p2o.errors import CheckFailed, UsageError

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
INVOLUTION_MODES = ("function", "unfold")
DEFAULT_OPSET = 17
# what convert() writes into manifest["options"] when called with its defaults
DEFAULT_OPTIONS = {
    "opset": DEFAULT_OPSET,
    "batch": "dynamic",
    "simplifier": "onnxsim",
    "involution": "function",
    "align_groups": 0,
    "precision": "fp32",
}
OPSET_RANGE = (11, 21)
EQUIVALENCE_IMAGES = 2


@dataclass(frozen=True)
class ConversionResult:
    out_dir: Path
    manifest: Manifest

    @property
    def onnx_path(self) -> Path:
        return self.out_dir / MODEL_FILE

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST_FILE


class _Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - t0, 3)


def state_sha256(model: Any) -> str:
    """Checksum of a network's weights: key names, dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        arr = np.ascontiguousarray(tensor.numpy())
        h.update(f"{key}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _specs(values: Any) -> list[TensorSpec]:
    specs = []
    for v in values:
        t = v.type.tensor_type
        dims: list[int | str] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim
        ]
        specs.append(
            TensorSpec(v.name, dims, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name)
        )
    return specs


def _involution_layers(net: Any) -> list[Any]:
    from p2o.zoo.rednet import Involution

    return [m for m in net.sublayers() if isinstance(m, Involution)]


@contextlib.contextmanager
def _marked_involutions(net: Any) -> Iterator[list[dict[str, int]]]:
    """Export-time: every Involution marks its input, kernel and output (see ``boundary``)."""
    layers = _involution_layers(net)
    configs = [
        {
            "kernel_size": int(m.kernel_size),
            "stride": int(m.stride),
            "groups": int(m.groups),
            "group_channels": int(m.group_channels),
        }
        for m in layers
    ]
    for i, m in enumerate(layers):
        m.boundary = functools.partial(boundary.mark, index=i)
    try:
        yield configs
    finally:
        for m in layers:
            m.boundary = None


def map_involutions(model: onnx.ModelProto, configs: list[dict[str, int]]) -> int:
    """Replace each marked involution's lowering by one ``ai.p2o::Involution`` node."""
    from p2o.converter.ops import involution as op

    graph = model.graph
    by_index: dict[int, dict[str, boundary.Marker]] = {}
    for m in boundary.find(model):
        by_index.setdefault(m.index, {})[m.role] = m
    for index, roles in sorted(by_index.items()):
        if set(roles) != set(boundary.ROLES):
            raise CheckFailed(
                f"involution {index}: markers {sorted(roles)} incomplete after export"
            )
        x, k, out = roles["input"], roles["kernel"], roles["output"]
        try:
            region = boundary.cut(model, [x.output, k.output], out.input)
        except ValueError as exc:
            raise CheckFailed(f"involution {index}: cannot isolate its lowering ({exc})") from exc
        for node in region:
            graph.node.remove(node)
        position = list(graph.node).index(out.node)
        graph.node.remove(out.node)
        graph.node.insert(
            position,
            op.make_node(
                x.output, k.output, out.output, name=f"Involution_{index}", **configs[index]
            ),
        )
    boundary.strip(model)
    if by_index:
        op.attach(model)
    return len(by_index)


def map_found_involutions(model: onnx.ModelProto, found: list[Lowering]) -> list[dict[str, int]]:
    """Replace each recognised (unmarked) involution lowering by one Involution node."""
    from p2o.converter.ops import involution as op

    graph = model.graph
    configs: list[dict[str, int]] = []
    cut_out: set[str] = set()  # first outputs of the nodes that go
    put: dict[str, onnx.NodeProto] = {}  # last region node's output -> the node replacing it
    for low in found:
        try:
            region = boundary.cut(model, [low.x, low.kernel], low.out)
        except ValueError:
            continue  # not self-contained: leave paddle2onnx's lowering
        cut_out.update(n.output[0] for n in region)
        put[region[-1].output[0]] = op.make_node(
            low.x, low.kernel, low.out, name=f"Involution_{len(configs)}", **low.config
        )
        configs.append(low.config)
    if configs:
        kept = []
        for node in graph.node:
            first = node.output[0] if node.output else ""
            if first in put:
                kept.append(put[first])
            elif first not in cut_out:
                kept.append(node)
        del graph.node[:]
        graph.node.extend(kept)
        op.attach(model)
    return configs


def _feed(batch: int | None, shape: tuple[int, ...]) -> np.ndarray:
    from p2o.zoo.inputs import sample_batch

    images = sample_batch(EQUIVALENCE_IMAGES)
    if tuple(images.shape[1:]) != tuple(shape):
        images = np.random.default_rng(0).standard_normal((EQUIVALENCE_IMAGES, *shape), np.float32)
    n = batch or EQUIVALENCE_IMAGES
    return np.resize(images, (n, *images.shape[1:])).astype(np.float32)


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    existing = [p.name for p in (out_dir / MODEL_FILE, out_dir / MANIFEST_FILE) if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{out_dir} already holds {', '.join(existing)}; pass --overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output path {out_dir} exists and is not a directory")


def convert(
    model: str | None = None,
    *,
    paddle_model: str | Path | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    batch: int | None = None,
    simplifier: str = "onnxsim",
    involution: str = "function",
    align_groups: int = 0,
    precision: str | PrecisionOptions = "fp32",
    overwrite: bool = False,
) -> ConversionResult:
    """Convert a zoo model (``model``) or an exported Paddle model dir (``paddle_model``).

    Returns the result with the manifest; raises UsageError for bad input (nothing
    written), ConversionError when paddle2onnx fails, CheckFailed when a check fails.
    """
    if (model is None) == (paddle_model is None):
        raise UsageError("give exactly one of a zoo model name or a Paddle model directory")
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise UsageError(f"opset {opset} outside the supported {OPSET_RANGE[0]}..{OPSET_RANGE[1]}")
    if batch is not None and batch < 1:
        raise UsageError(f"batch must be >= 1 or dynamic, got {batch}")
    if simplifier not in simplify.SIMPLIFIERS:
        raise UsageError(f"unknown simplifier {simplifier!r} ({', '.join(simplify.SIMPLIFIERS)})")
    if involution not in INVOLUTION_MODES:
        raise UsageError(f"unknown involution mode {involution!r} ({', '.join(INVOLUTION_MODES)})")
    if align_groups == 1 or align_groups < 0:
        raise UsageError(
            f"--align-groups wants 0 (off) or a block of >= 2 channels, got {align_groups}"
        )
    if paddle_model is not None and weights is not None:
        raise UsageError("--weights applies to zoo models; a Paddle model dir has its own")

    prec = precision if isinstance(precision, PrecisionOptions) else PrecisionOptions(precision)
    stages = _Stages()
    notes: list[str] = []
    pp = None  # the model's preprocessing, for INT8 calibration images
    configs: list[dict[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="p2o-convert-") as tmp:
        if model is not None:
            from p2o.zoo import create_model, model_info

            info = model_info(model)
            name, shape, pp = info.name, info.input_shape, info.preprocess
            out = Path(out_dir) if out_dir else Path("p2o-out") / name
            _prepare_out_dir(out, overwrite)
            with stages("build"):
                net = create_model(name, weights=weights, seed=seed)
            if weights is None:
                weights_desc = f"synthetic(seed={seed})"
            else:
                weights_desc = "pretrained" if str(weights) == "pretrained" else str(weights)
            source = {
                "kind": "zoo",
                "name": name,
                "weights": weights_desc,
                "weights_sha256": state_sha256(net),
            }
            mark = involution == "function" and info.family == "RedNet"
            with stages("export"):
                ctx: contextlib.AbstractContextManager[list[dict[str, int]]] = (
                    _marked_involutions(net) if mark else contextlib.nullcontext([])
                )
                with ctx as configs:
                    files = export.export_static(net, Path(tmp) / "paddle", shape, batch)
        else:
            files = export.find_paddle_model(paddle_model)  # type: ignore[arg-type]
            name, shape = Path(paddle_model).resolve().name, (3, 224, 224)  # type: ignore[arg-type]
            out = Path(out_dir) if out_dir else Path("p2o-out") / name
            _prepare_out_dir(out, overwrite)
            from p2o.zoo.weights import sha256_file

            source = {
                "kind": "paddle-model",
                "path": str(Path(paddle_model).resolve()),  # type: ignore[arg-type]
                "format": files.format,
                "weights": str(files.params_file),
                "weights_sha256": sha256_file(files.params_file),
            }

        with stages("paddle2onnx"):
            p2o_result = paddle2onnx.convert(files.model_file, files.params_file, opset)
        onnx_model = onnx.load_from_string(p2o_result.onnx_bytes)
        counts = {"paddle2onnx": len(onnx_model.graph.node) - len(boundary.find(onnx_model))}

        feed_name = onnx_model.graph.input[0].name
        feed = {feed_name: _feed(batch, shape)}
        with stages("map_ops"):
            before = onnx.ModelProto()
            marked = bool(configs)
            if marked:
                before.CopyFrom(onnx_model)
                mapped = map_involutions(onnx_model, configs)
            else:
                boundary.strip(onnx_model)
                found = find_lowerings(onnx_model) if involution == "function" else []
                if found:
                    before.CopyFrom(onnx_model)
                configs = map_found_involutions(onnx_model, found)
                mapped = len(configs)
        eq_map = None
        if mapped:  # the mapping itself, proved like the simplification
            with stages("equivalence"):
                eq_map = simplify.equivalence(before, onnx_model, feed)
            if not eq_map and marked:  # p2o's own markers: a bug, never shipped
                raise CheckFailed(
                    f"mapping involutions changed the model's outputs ({eq_map.describe()}); "
                    "nothing written"
                )
            if not eq_map:  # a recognition that does not hold: keep paddle2onnx's lowering
                notes.append(
                    f"{mapped} involution lowerings recognised, but the mapped graph was not "
                    f"equal ({eq_map.describe()}): kept paddle2onnx's lowering"
                )
                onnx_model, configs, mapped, eq_map = before, [], 0, None
            elif not marked:
                notes.append(
                    f"{mapped} involutions recognised in paddle2onnx's unfold lowering "
                    "(a model without p2o's markers) and mapped"
                )
        counts["mapped"] = len(onnx_model.graph.node)
        del before
        custom_ops = []
        if mapped:
            from p2o.converter.ops import involution as op

            custom_ops.append(
                {
                    "domain": op.DOMAIN,
                    "op_type": op.OP_TYPE,
                    "count": mapped,
                    "configurations": sorted({tuple(sorted(c.items())) for c in configs}),
                    "function": "model-local ONNX function of standard ops",
                }
            )

        with stages("check"):
            try:
                onnx.checker.check_model(onnx_model, full_check=True)
            except onnx.checker.ValidationError as exc:
                raise CheckFailed(f"onnx.checker rejects the converted model: {exc}") from exc

        with stages("simplify"):
            simplified = simplify.simplify(onnx_model, simplifier)
        counts["simplified"] = len(simplified.graph.node)
        with stages("equivalence"):
            eq = simplify.equivalence(onnx_model, simplified, feed)
        if not eq:
            raise CheckFailed(
                f"{simplifier} changed the model's outputs ({eq.describe()}); nothing written"
            )
        with stages("check"):
            onnx.checker.check_model(simplified, full_check=True)

        aligned: dict[str, Any] = {}
        if align_groups:
            with stages("align_groups"):
                report = align_groups_pass(simplified, block=align_groups)
                if report.widened:
                    eq_aligned = simplify.equivalence(onnx_model, simplified, feed)
                    if not eq_aligned:
                        raise CheckFailed(
                            "aligning grouped convolutions changed the model's outputs "
                            f"({eq_aligned.describe()}); nothing written"
                        )
                    onnx.checker.check_model(simplified, full_check=True)
                    eq = eq_aligned
            aligned = report.to_dict()

        precision_info: dict[str, Any] = {}
        if prec.precision != "fp32":
            from p2o.converter import precision as precision_pass

            with stages("precision"):
                simplified, applied = precision_pass.apply(simplified, prec, pp)
                onnx.checker.check_model(simplified, full_check=True)
            precision_info = {**applied.to_dict(), "options": prec.to_dict()}

        simplified.producer_name = "p2o"
        simplified.producer_version = __version__
        data = simplified.SerializeToString(deterministic=True)
        manifest = Manifest(
            model=name,
            source=source,
            options={
                "opset": opset,
                "batch": batch or "dynamic",
                "simplifier": simplifier,
                "involution": involution,
                "align_groups": align_groups,
                "precision": prec.precision,
            },
            tools=tool_versions(),
            opset=p2o_result.opset,
            opset_requested=opset,
            opset_raised_because=p2o_result.opset_raised_because,
            inputs=_specs(simplified.graph.input),
            outputs=_specs(simplified.graph.output),
            node_counts=counts,
            custom_ops=custom_ops,
            stage_seconds=stages.seconds,
            equivalence={
                "inputs": f"{len(feed[feed_name])} sample photographs",
                "max_abs": eq.max_abs,
                "max_rel": eq.max_rel,
                "rtol": simplify.EQUIVALENCE_RTOL,
                "mapping_max_rel": None if eq_map is None else eq_map.max_rel,
            },
            onnx_sha256=hashlib.sha256(data).hexdigest(),
            onnx_bytes=len(data),
            notes=notes,
            align_groups=aligned,
            precision=precision_info,
        )
        out.mkdir(parents=True, exist_ok=True)
        stale = out / MANIFEST_FILE
        if stale.exists():  # never leave an old manifest beside a new model
            stale.unlink()
        write_atomic(out / MODEL_FILE, data)
        write_atomic(out / MANIFEST_FILE, manifest.to_json().encode())
    return ConversionResult(out, manifest)
