"""Find paddle2onnx's lowering of an involution in a graph that carries no p2o markers.

p2o's own exports mark each involution (``boundary.py``). A Paddle model exported elsewhere
— PaddleClas's published inference models — has no markers, but paddle2onnx lowers its
``unfold``-based involution to a recognisable tail::

    x ── Pad ─ Gather ─ Gather ─ Transpose ─ Reshape (unfold) ─ Reshape ─┐
                                                                    Mul ─ ReduceSum ─ Reshape ─ out
    kernel ───────────────────────────────────────────────── Reshape ─┘

This module finds each such (``x``, ``kernel``, ``out``) triple from the ``ReduceSum``
backwards and reads the configuration off the graph: K from the Pad (p = (K-1)/2), the
groups from the kernel's channels (G*K*K), the stride from the step of the ``Range`` that
indexes the unfold's rows and columns. The converter
replaces the region between them by one ``ai.p2o::Involution`` node only when it is
self-contained (``boundary.cut``), and proves the result numerically equal to paddle2onnx's
graph before keeping it; anything that does not match stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from p2o.converter import boundary

PATCH_PATH = ("Identity", "Reshape", "Transpose", "Gather", "Unsqueeze")
KERNEL_PATH = ("Identity", "Reshape", "Unsqueeze")
OUT_PATH = ("Identity", "Reshape")


@dataclass(frozen=True)
class Lowering:
    x: str
    kernel: str
    out: str
    kernel_size: int
    stride: int
    groups: int
    group_channels: int

    @property
    def config(self) -> dict[str, int]:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "groups": self.groups,
            "group_channels": self.group_channels,
        }


def _walk_up(
    producers: dict[str, onnx.NodeProto], name: str, through: tuple[str, ...]
) -> tuple[str, onnx.NodeProto | None]:
    """Follow first inputs up through ``through`` ops: (the tensor reached, its producer)."""
    node = producers.get(name)
    for _ in range(16):
        if node is None or node.op_type not in through:
            break
        name = node.input[0]
        node = producers.get(name)
    return name, node


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes: dict[str, list[int | None]] = {}
    for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if v.type.tensor_type.HasField("shape"):
            dims = v.type.tensor_type.shape.dim
            shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes


def find_lowerings(model: onnx.ModelProto) -> list[Lowering]:
    """Every involution lowering recognisable in ``model``, in graph order."""
    graph = model.graph
    producers = boundary.producers_of(graph)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    shapes: dict[str, list[int | None]] | None = None  # inferred once, when first needed
    found = []
    for node in graph.node:
        if node.op_type != "ReduceSum":
            continue
        _, mul = _walk_up(producers, node.input[0], ("Identity",))
        if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        pad = None
        kernel = ""
        for side, other in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            _, reached = _walk_up(producers, side, PATCH_PATH)
            if reached is not None and reached.op_type == "Pad":
                pad, (kernel, _) = reached, _walk_up(producers, other, KERNEL_PATH)
                break
        if pad is None or not _zero_padding(graph, producers, pad):
            continue
        out = node.output[0]
        while len(users := consumers.get(out, [])) == 1 and users[0].op_type in OUT_PATH:
            out = users[0].output[0]
        shapes = _static_shapes(model) if shapes is None else shapes
        lowering = _configure(graph, producers, consumers, shapes, pad, kernel, out)
        if lowering is not None:
            found.append(lowering)
    return found


def _zero_padding(
    graph: onnx.GraphProto, producers: dict[str, onnx.NodeProto], pad: onnx.NodeProto
) -> bool:
    mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
    if mode != b"constant":
        return False
    if len(pad.input) > 2 and pad.input[2]:
        value = boundary._constant(graph, pad.input[2], producers)
        return value is not None and float(value.ravel()[0]) == 0.0
    return True


def _stride(
    graph: onnx.GraphProto,
    producers: dict[str, onnx.NodeProto],
    consumers: dict[str, list[onnx.NodeProto]],
    pad: onnx.NodeProto,
) -> int | None:
    """The step of the two ``Range`` index rows of the unfold's row and column ``Gather``."""
    steps = set()
    tensor = pad.output[0]
    for _ in range(2):
        users = consumers.get(tensor, [])
        if len(users) != 1 or users[0].op_type != "Gather":
            return None
        gather = users[0]
        add = producers.get(gather.input[1])
        if add is None or add.op_type != "Add":
            return None
        ups = [producers.get(i) for i in add.input]
        below = [
            producers.get(u.input[0]) for u in ups if u is not None and u.op_type == "Unsqueeze"
        ]
        ranges = [r for r in below if r is not None and r.op_type == "Range"]
        if len(ranges) != 1:
            return None
        step = boundary._constant(graph, ranges[0].input[2], producers)
        if step is None:
            return None
        steps.add(int(step.ravel()[0]))
        tensor = gather.output[0]
    return steps.pop() if len(steps) == 1 else None


def _configure(
    graph: onnx.GraphProto,
    producers: dict[str, onnx.NodeProto],
    consumers: dict[str, list[onnx.NodeProto]],
    shapes: dict[str, list[int | None]],
    pad: onnx.NodeProto,
    kernel: str,
    out: str,
) -> Lowering | None:
    x = pad.input[0]
    pads = boundary._constant(graph, pad.input[1], producers) if len(pad.input) > 1 else None
    xs, ks = shapes.get(x), shapes.get(kernel)
    if pads is None or xs is None or ks is None or len(xs) != 4 or len(ks) != 4:
        return None
    pads = [int(v) for v in pads.ravel()]
    if len(pads) != 8 or len(set(pads[2:4] + pads[6:8])) != 1 or pads[:2] + pads[4:6] != [0] * 4:
        return None
    size = 2 * pads[2] + 1
    channels, kernel_channels = xs[1], ks[1]
    stride = _stride(graph, producers, consumers, pad)
    if not channels or not kernel_channels or not stride or kernel_channels % (size * size):
        return None
    groups = kernel_channels // (size * size)
    if channels % groups:
        return None
    return Lowering(x, kernel, out, size, stride, groups, channels // groups)
