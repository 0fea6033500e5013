"""The first diverging op of any Paddle model, from the Paddle program itself (no dygraph code).

Paddle side: the inference program (PIR ``inference.json``) is loaded with ``paddle.static``,
its fetch op removed, and every float output of every op fetched in one run, in program
order. Each gets the name paddle2onnx gives the tensor it writes for it:
``p2o.pd_op.<op>.<n>.<k>`` (the ``n``-th op of that type in the program, its ``k``-th result).
ONNX side: the tensors of the file that carry those names become extra outputs, computed with
ONNX Runtime (graph optimizations off). Every error is parity's rule (``min_tolerance``), on
the scale of ``--tolerance``.

The first Paddle value (program order) whose ONNX tensor is beyond the threshold (the
tolerance, or ``NOISE_MULTIPLE`` times the noise floor when that is larger) is named, with the
ONNX nodes between it and the matched values before it (what computes it in the file).
``write_repro`` extracts exactly those nodes (``onnx.utils.extract_model``) into a bundle in
ONNX's test-data layout: the subgraph, its inputs (Paddle's values) and Paddle's expected
output, which any runtime replays.

A legacy ``.pdmodel`` program is loaded in the old IR (its parameters into the scope) and
translated to PIR (``paddle.pir.translate_to_pir``), which is what paddle2onnx 2.1.0 converts
too: the same ops in the same order, so the same names.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o.converter.source import PaddleModelFiles
from p2o.core.files import temporary_folder, write_atomic
from p2o.core.results import NOISE_MULTIPLE, Divergence, NoiseFloor
from p2o.core.tolerance import min_tolerance

PREFIX = "p2o.pd_op."
SKIP = ("pd_op.feed", "pd_op.fetch", "pd_op.data")
# A simplifier fuses ops into the one before them and keeps that one's tensor name (a Conv
# followed by its BatchNorm is one Conv named ``conv2d.N.0`` holding BatchNorm's output). A
# tensor is therefore compared with its own Paddle value and the next FUSED values of its
# shape, and stands for the closest.
FUSED = 8


class Untraceable(Exception):
    """This program cannot be traced (its format, or no tensor matched by name)."""


@dataclass(frozen=True)
class Value:
    """One output of one Paddle op: its paddle2onnx tensor name, op type and value."""

    name: str
    op: str
    array: np.ndarray


@dataclass
class Trace:
    """Paddle's values matched to the ONNX file's tensors, in program order."""

    values: list[Value]
    errors: dict[str, float]  # matched name -> min_tolerance of ONNX vs Paddle
    holds: dict[str, str]  # matched name -> the Paddle value it stands for (itself, or fused)
    x: np.ndarray
    input_name: str
    model: onnx.ModelProto  # the file, model-local functions inlined
    producers: dict[str, onnx.NodeProto] = field(default_factory=dict)


def onnx_name(op: str, n: int, k: int) -> str:
    return f"{PREFIX}{op.removeprefix('pd_op.')}.{n}.{k}"


def paddle_values(files: PaddleModelFiles, x: np.ndarray) -> list[Value]:
    """Every float output of every op of the program on ``x``, named as paddle2onnx names it."""
    import paddle  # optional, heavy: only when a failure is localized
    from paddle.pir_utils import OldIrGuard

    was_dynamic = paddle.in_dynamic_mode()
    paddle.enable_static()
    try:
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            exe = paddle.static.Executor(paddle.CPUPlace())
            where = {
                "model_filename": files.model_file.name,
                "params_filename": files.params_file.name,
            }
            if files.format == "pir":
                prog, feeds, _ = paddle.static.load_inference_model(
                    str(files.model_file.parent), exe, **where
                )
            else:  # legacy: loaded (parameters into the scope) and translated to PIR, as
                # paddle2onnx 2.1.0 does before converting: the same ops, the same names
                with OldIrGuard():
                    legacy, feeds, _ = paddle.static.load_inference_model(
                        str(files.model_file.parent), exe, **where
                    )
                prog = paddle.pir.translate_to_pir(legacy.desc)
            block = prog.global_block()
            for op in [op for op in block.ops if op.name() == "pd_op.fetch"]:
                block.remove_op(op)  # fetching other values fails beside the program's own
            counts: Counter[str] = Counter()
            wanted: list[tuple[str, str, Any]] = []
            for op in block.ops:
                kind = op.name()
                if kind.startswith("builtin."):
                    continue
                n = counts[kind]
                counts[kind] += 1
                if kind in SKIP:
                    continue
                for k, r in enumerate(op.results()):
                    if r.is_dense_tensor_type() and r.dtype == paddle.float32:
                        wanted.append((onnx_name(kind, n, k), kind, r))
            arrays = exe.run(
                prog, feed={feeds[0]: x}, fetch_list=[w[2] for w in wanted], return_numpy=True
            )
    finally:
        if was_dynamic:
            paddle.disable_static()
    return [
        Value(name, kind, np.asarray(a)) for (name, kind, _), a in zip(wanted, arrays, strict=True)
    ]


def _inlined(model: onnx.ModelProto) -> onnx.ModelProto:
    if model.functions:
        from onnx.inliner import inline_local_functions

        return inline_local_functions(model)
    return model


def _ort(model: onnx.ModelProto, feed: dict[str, np.ndarray], outputs: list[str]) -> list[Any]:
    import onnxruntime as ort  # optional: the caller's runtime

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in outputs:
        if name not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return list(sess.run(outputs, feed))


def trace(model: onnx.ModelProto, files: PaddleModelFiles, x: np.ndarray) -> Trace:
    """Paddle's values on ``x`` and the errors of the ONNX tensors carrying their names."""
    model = _inlined(model)
    inits = {t.name for t in model.graph.initializer}
    input_name = next(i.name for i in model.graph.input if i.name not in inits)
    producers = {o: n for n in model.graph.node for o in n.output if o}
    values = paddle_values(files, x)
    matched = [v for v in values if v.name in producers]
    if not matched:
        raise Untraceable("no tensor of the ONNX file carries paddle2onnx's names")
    arrays = dict(
        zip(
            [v.name for v in matched],
            _ort(model, {input_name: x}, [v.name for v in matched]),
            strict=True,
        )
    )
    errors: dict[str, float] = {}
    holds: dict[str, str] = {}
    for i, v in enumerate(values):
        if v.name not in arrays:
            continue
        a = np.asarray(arrays[v.name])
        later = [w for w in values[i + 1 : i + 1 + FUSED] if w.array.shape == a.shape]
        best = (math.inf, v.name)
        for w in [v, *later]:
            m = min_tolerance(w.array, a)
            if m is not None and m < best[0]:
                best = (m, w.name)
        errors[v.name], holds[v.name] = best
    return Trace(values, errors, holds, x, input_name, model, producers)


def _subgraph(t: Trace, target: str, stops: set[str]) -> tuple[list[onnx.NodeProto], list[str]]:
    """The nodes computing ``target`` back to the nearest ``stops`` (matched Paddle values) or
    the graph input, and those boundary tensors (the subgraph's inputs)."""
    inits = {i.name for i in t.model.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    inputs: list[str] = []
    seen: set[str] = set()
    todo = [target]
    while todo:
        name = todo.pop()
        if name in seen or not name or name in inits:
            continue
        seen.add(name)
        if name != target and (name in stops or name == t.input_name):
            inputs.append(name)
            continue
        node = t.producers.get(name)
        if node is None:
            continue
        if node not in nodes:
            nodes.append(node)
        todo.extend(node.input)
    order = {id(n): i for i, n in enumerate(t.model.graph.node)}
    nodes.sort(key=lambda n: order[id(n)])
    return nodes, sorted(inputs)


@dataclass(frozen=True)
class Found:
    """The first diverging value and the ONNX nodes that compute it."""

    divergence: Divergence
    target: str
    inputs: list[str]
    nodes: list[str]


def threshold(tolerance: float, floor: NoiseFloor | None) -> float:
    """Beyond this a value diverges: the tolerance, or NOISE_MULTIPLE times the floor."""
    if floor is None or not math.isfinite(floor.value):
        return tolerance
    return max(tolerance, NOISE_MULTIPLE * floor.value)


def first_divergence(
    t: Trace, tolerance: float, floor: NoiseFloor | None = None, final: float | None = None
) -> Found | None:
    """The first Paddle value (program order) whose ONNX tensor is beyond ``threshold``."""
    limit = threshold(tolerance, floor)
    within: list[Value] = []
    for v in t.values:
        err = t.errors.get(v.name)
        if err is None:
            continue
        if err <= limit:
            within.append(v)
            continue
        nodes, inputs = _subgraph(t, v.name, {w.name for w in within})
        names = [n.name or n.op_type for n in nodes]
        last = within[-1].name if within else ""
        node = t.producers[v.name]
        div = Divergence(
            True,
            v.name,
            v.op,
            node.name or node.op_type,
            node.op_type,
            err,
            last,
            last,
            len(within),
            len(t.errors),
            tolerance=limit,
            final_min_tolerance=final,
            source="program",
            nodes=names,
        )
        return Found(div, v.name, inputs, names)
    return None


def write_repro(t: Trace, found: Found, out: str | Path) -> Path:
    """``out/model.onnx`` (the nodes between the matched values and the diverging one) and
    ``out/test_data_set_0/input_*.pb`` (Paddle's values), ``output_0.pb`` (Paddle's expected
    output): ONNX's test-data layout, replayable by any runtime."""
    out = Path(out)
    values = {v.name: v.array for v in t.values}
    feeds = {n: (t.x if n == t.input_name else values[t.holds[n]]) for n in found.inputs}
    with temporary_folder("p2o-repro-") as tmp:
        whole = Path(tmp) / "whole.onnx"
        onnx.save(t.model, str(whole))
        part = Path(tmp) / "model.onnx"
        onnx.utils.extract_model(str(whole), str(part), found.inputs, [found.target])
        data = part.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:  # written whole or not at all: a hidden folder renamed into place at the end
        sets = staging / "test_data_set_0"
        sets.mkdir()
        write_atomic(staging / "model.onnx", data)
        for i, name in enumerate(found.inputs):
            tensor = onnx.numpy_helper.from_array(np.ascontiguousarray(feeds[name]), name)
            write_atomic(sets / f"input_{i}.pb", tensor.SerializeToString())
        expected = onnx.numpy_helper.from_array(
            np.ascontiguousarray(values[t.holds[found.target]]), found.target
        )
        write_atomic(sets / "output_0.pb", expected.SerializeToString())
        if out.is_dir():
            out.rmdir()  # empty (verify checked it before running)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def replay(bundle: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """ONNX Runtime on a repro bundle: (its output, the expected output)."""
    bundle = Path(bundle)
    model = onnx.load(str(bundle / "model.onnx"))
    sets = bundle / "test_data_set_0"
    feed = {}
    for i in range(len(model.graph.input)):
        tensor = onnx.TensorProto()
        tensor.ParseFromString((sets / f"input_{i}.pb").read_bytes())
        feed[tensor.name] = onnx.numpy_helper.to_array(tensor)
    expected = onnx.TensorProto()
    expected.ParseFromString((sets / "output_0.pb").read_bytes())
    (got,) = _ort(model, feed, [expected.name])
    return np.asarray(got), onnx.numpy_helper.to_array(expected)
