"""``gelu(approximate=True)``: the tanh form Paddle computes; paddle2onnx writes the exact one.

Paddle's ``gelu`` has two forms: exact, ``0.5 x (1 + erf(x / sqrt 2))``, and with
``approximate=True``, ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``. paddle2onnx 2.1.0
lowers both to the exact form (Div, Erf, Add, Mul, Mul), so a model with approximate GELUs
converts into a graph that computes other numbers: 2.7e-4 on p2o's tolerance scale for one
GELU of a small network (tests/converter/test_gelu_tanh.py), more as GELUs stack up.

The Paddle program says which GELUs are approximate (the ``approximate`` attribute of each
``gelu`` op); paddle2onnx names the output of the n-th ``gelu`` op ``p2o.pd_op.gelu.<n>.0``.
This mapping reads the program, finds the erf lowering that writes each approximate GELU's
output, and writes the tanh form there instead, in standard ops (opset 13+: no custom op).

It corrects, so it is not proved equal to paddle2onnx's graph (that graph is the error); it
is proved against its own definition: the new nodes' outputs, computed by ONNX Runtime, equal
the tanh form evaluated in float64 on the same inputs, under p2o's tolerance rule.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper

from p2o.converter.ops.base import OpMapping
from p2o.converter.simplify import TOLERANCE, Equivalence, ort_run, outputs_equal

OUTPUT = "p2o.pd_op.gelu.{}.0"  # paddle2onnx's name of the n-th gelu op's output
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715


def approximate_gelus(program: Path | None) -> list[int]:
    """Indices (in program order) of the ``gelu`` ops with ``approximate=True`` (PIR only)."""
    if program is None or program.suffix != ".json":
        return []  # a legacy program: not read here (paddle2onnx names it the same way)
    found, index = [], 0
    for op in _pir_ops(json.loads(program.read_bytes())):
        if str(op.get("#", "")).endswith(".gelu"):
            attrs = {a.get("N"): a.get("AT", {}).get("D") for a in op.get("A", [])}
            if attrs.get("approximate") is True:
                found.append(index)
            index += 1
    return found


def _pir_ops(node: Any) -> Iterator[dict[str, Any]]:
    """Every op of a PIR program (``{"#": "1.<name>", ...}``), nested blocks included, in order."""
    if isinstance(node, dict):
        if str(node.get("#", "")).startswith("1."):
            yield node
        for value in node.values():
            yield from _pir_ops(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pir_ops(value)


def _lowering(model: ModelProto, out: str) -> list[onnx.NodeProto] | None:
    """The erf lowering's nodes, output first, that write ``out`` (None: not that shape):
    ``Mul(Mul(x, Add(Erf(Div(x, c)), c)), c)``, operands of Mul and Add in either order."""
    producer = {o: n for n in model.graph.node for o in n.output}

    def made_by(name: str, op_type: str) -> onnx.NodeProto | None:
        node = producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def one_of(node: onnx.NodeProto, op_type: str) -> tuple[onnx.NodeProto, str] | None:
        """The input made by an ``op_type`` node, and the other input."""
        for i, name in enumerate(node.input[:2]):
            found = made_by(name, op_type)
            if found is not None:
                return found, node.input[1 - i]
        return None

    last = made_by(out, "Mul")
    inner = None if last is None else one_of(last, "Mul")
    gate = None if inner is None else one_of(inner[0], "Add")
    erf = None if gate is None else one_of(gate[0], "Erf")
    div = None if erf is None else made_by(erf[0].input[0], "Div")
    if last is None or inner is None or gate is None or erf is None or div is None:
        return None
    if div.input[0] != gate[1]:  # x / sqrt2 inside, x outside: the same x
        return None
    return [last, inner[0], gate[0], erf[0], div]


def find(model: ModelProto, program: Path | None) -> list[dict[str, Any]]:
    """Each approximate GELU whose output paddle2onnx wrote with the exact erf lowering."""
    prefix = OUTPUT.split("{")[0]
    if not any(o.startswith(prefix) for n in model.graph.node for o in n.output):
        return []  # no gelu op: the program is not read
    found = []
    for index in approximate_gelus(program):
        chain = _lowering(model, OUTPUT.format(index))
        if chain is not None:
            found.append({"index": index, "x": chain[-1].input[0], "out": chain[0].output[0]})
    return found


def _const(model: ModelProto, name: str, value: float) -> str:
    model.graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), name))
    return name


def map_found(model: ModelProto, found: list[dict[str, Any]], target: str) -> list[dict[str, int]]:
    """Replace each found lowering by the tanh form, in place; the configs mapped."""
    graph = model.graph
    for f in found:
        chain = _lowering(model, f["out"])
        if chain is None:
            continue
        position = min(list(graph.node).index(n) for n in chain)
        for node in chain:
            graph.node.remove(node)
        p, x = f"GeluTanh_{f['index']}", f["x"]
        values = {"cubic": CUBIC, "scale": SQRT_2_OVER_PI, "one": 1.0, "half": 0.5}
        c = {k: _const(model, f"{p}/{k}", v) for k, v in values.items()}
        nodes = [
            helper.make_node("Mul", [x, x], [f"{p}/x2"], name=f"{p}/x2"),
            helper.make_node("Mul", [f"{p}/x2", x], [f"{p}/x3"], name=f"{p}/x3"),
            helper.make_node("Mul", [f"{p}/x3", c["cubic"]], [f"{p}/cx3"], name=f"{p}/cx3"),
            helper.make_node("Add", [x, f"{p}/cx3"], [f"{p}/inner"], name=f"{p}/inner"),
            helper.make_node("Mul", [f"{p}/inner", c["scale"]], [f"{p}/arg"], name=f"{p}/arg"),
            helper.make_node("Tanh", [f"{p}/arg"], [f"{p}/tanh"], name=f"{p}/tanh"),
            helper.make_node("Add", [f"{p}/tanh", c["one"]], [f"{p}/gate"], name=f"{p}/gate"),
            helper.make_node("Mul", [x, c["half"]], [f"{p}/halfx"], name=f"{p}/halfx"),
            helper.make_node("Mul", [f"{p}/halfx", f"{p}/gate"], [f["out"]], name=f"{p}/out"),
        ]
        for offset, node in enumerate(nodes):
            graph.node.insert(position + offset, node)
    return [{"index": int(f["index"])} for f in found]


def reference(x: np.ndarray) -> np.ndarray:
    """Paddle's ``gelu(x, approximate=True)`` in float64."""
    x = np.asarray(x, np.float64)
    return 0.5 * x * (1.0 + np.tanh(SQRT_2_OVER_PI * (x + CUBIC * x**3)))


def prove(
    model: ModelProto, found: list[dict[str, Any]], feed: dict[str, np.ndarray]
) -> Equivalence:
    """The mapped nodes against their definition, on the inputs the graph gives them."""
    probe = ModelProto()
    probe.CopyFrom(model)
    names = [name for f in found for name in (f["x"], f["out"])]
    known = {o.name for o in probe.graph.output}
    for name in names:
        if name not in known:
            probe.graph.output.append(
                helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    values = dict(zip([o.name for o in probe.graph.output], ort_run(probe, feed), strict=True))
    expected = [reference(values[f["x"]]).astype(np.float32) for f in found]
    return outputs_equal(expected, [values[f["out"]] for f in found])


def describe(model: ModelProto, configs: list[dict[str, int]]) -> dict[str, Any]:
    return {
        "domain": "",
        "op_type": "gelu(approximate=True)",
        "count": len(configs),
        "configurations": [c["index"] for c in configs],
        "function": "the tanh form in standard ops (paddle2onnx had written the exact erf form)",
        "proof": f"against the tanh definition in float64, tolerance {TOLERANCE:g}",
    }


MAPPING = OpMapping(
    name="gelu_tanh",
    lowering="exact (erf) form, ignoring approximate=True",
    domain="",
    op_type="Tanh",
    targets=(),
    present=lambda model: False,  # standard ops: nothing for a runtime to pick or inline
    retarget=lambda model, target: model,
    mark=lambda net: contextlib.nullcontext([]),
    map_marked=lambda model, configs, target: 0,
    find=find,
    map_found=map_found,
    describe=describe,
    corrects=True,
    prove=prove,
)
