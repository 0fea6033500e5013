"""Boundary markers: how a Paddle layer is found again in paddle2onnx's ONNX graph.

At export, a layer to be mapped to a custom op wraps its input(s) and output in
``Clip(-M, M)`` with a sentinel bound ``M`` that encodes (role, layer index). Finite values
pass through unchanged. After paddle2onnx, ``find`` reads the markers back, ``cut``
collects the nodes strictly between a layer's input markers and its output marker (what
paddle2onnx lowered the layer to), and ``strip`` removes markers that are left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

BASE = 2.0e38
STEP = 1.0e33  # float32 spacing near 2e38 is ~1e31: codes stay exact
ROLES = ("input", "kernel", "output")
MAX_INDEX = 100


def bound(role: str, index: int) -> float:
    if not 0 <= index < MAX_INDEX:
        raise ValueError(f"marker index {index} out of range")
    return BASE + (ROLES.index(role) * MAX_INDEX + index) * STEP


def mark(x: Any, role: str, index: int) -> Any:
    """The Paddle side: an identity on finite values that survives export as a Clip."""
    import paddle

    m = bound(role, index)
    return paddle.clip(x, -m, m)


@dataclass(frozen=True)
class Marker:
    node: onnx.NodeProto
    role: str
    index: int

    @property
    def input(self) -> str:
        return self.node.input[0]

    @property
    def output(self) -> str:
        return self.node.output[0]


def _constant(graph: onnx.GraphProto, name: str, producers: dict[str, onnx.NodeProto]) -> Any:
    """The value of ``name`` if it is a constant (through Identity/Squeeze/... chains)."""
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    node = producers.get(name)
    if node is None:
        return None
    if node.op_type == "Constant":
        for a in node.attribute:
            if a.name == "value":
                return numpy_helper.to_array(a.t)
            if a.name == "value_float":
                return np.float32(a.f)
        return None
    if node.op_type in ("Identity", "Squeeze", "Unsqueeze", "Reshape", "Cast") and node.input:
        return _constant(graph, node.input[0], producers)
    return None


def producers_of(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in graph.node for o in n.output}


def find(model: onnx.ModelProto) -> list[Marker]:
    graph = model.graph
    producers = producers_of(graph)
    found = []
    for node in graph.node:
        if node.op_type != "Clip" or len(node.input) < 3:
            continue
        hi = _constant(graph, node.input[2], producers)
        lo = _constant(graph, node.input[1], producers)
        if hi is None or lo is None or np.size(hi) != 1 or np.size(lo) != 1:
            continue
        high = float(np.asarray(hi, np.float32).reshape(-1)[0])
        low = float(np.asarray(lo, np.float32).reshape(-1)[0])
        code = round((high - BASE) / STEP)
        if high < BASE * 0.999 or low != -high or not 0 <= code < len(ROLES) * MAX_INDEX:
            continue
        found.append(Marker(node, ROLES[code // MAX_INDEX], code % MAX_INDEX))
    return found


def _rename_input(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for out in graph.output:
        if out.name == old:  # keep the graph's output name: route through an Identity
            graph.node.append(onnx.helper.make_node("Identity", [new], [old]))


def strip(model: onnx.ModelProto, markers: list[Marker] | None = None) -> int:
    """Remove markers (all by default), wiring consumers to the marked tensor."""
    graph = model.graph
    markers = find(model) if markers is None else markers
    for m in markers:
        graph.node.remove(m.node)
        _rename_input(graph, m.output, m.input)
    remove_dead(model)
    return len(markers)


def cut(model: onnx.ModelProto, inputs: list[str], output: str) -> list[onnx.NodeProto]:
    """Nodes that compute ``output`` from ``inputs`` (and constants) and feed nothing else.

    Raises ValueError if the region reaches another graph input, or if one of its tensors
    is used outside the region (then it is not a self-contained lowering of one layer).
    """
    graph = model.graph
    producers = producers_of(graph)
    stop = set(inputs) | {i.name for i in graph.initializer}
    region: dict[str, onnx.NodeProto] = {}  # keyed by first output (SSA: unique)
    todo = [output]
    while todo:
        name = todo.pop()
        if name in stop or not name:
            continue
        node = producers.get(name)
        if node is None:
            raise ValueError(f"region of {output} reaches graph input {name}")
        if node.output[0] in region:
            continue
        region[node.output[0]] = node
        todo.extend(node.input)
    inside = {o for n in region.values() for o in n.output}
    for node in graph.node:
        if node.output and node.output[0] in region:
            continue
        leaks = [t for t in node.input if t in inside and t != output]
        if leaks:
            raise ValueError(
                f"region of {output} is not self-contained: {leaks[0]} used by {node.name}"
            )
    if any(o.name in inside - {output} for o in graph.output):
        raise ValueError(f"region of {output} feeds a graph output")
    return [n for n in graph.node if n.output and n.output[0] in region]


def _reads(node: onnx.NodeProto) -> list[str]:
    """What ``node`` reads: its inputs, and the values its subgraphs (``If``/``Loop``/``Scan``
    bodies, nested) read from outer scopes (names are unique across scopes in ONNX)."""
    names = list(node.input)
    for attr in node.attribute:
        for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs:
            for inner in sub.node:
                names.extend(_reads(inner))
    return names


def remove_dead(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no longer contribute to a graph output."""
    graph = model.graph
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(_reads(node))
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
