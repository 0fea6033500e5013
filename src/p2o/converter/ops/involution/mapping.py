"""Involution in the converter's pipeline: export-time markers on the zoo's RedNet layers, the
mapping of marked (or recognised) lowerings to one ``ai.p2o::Involution`` node each, and the
manifest's record of it. Registered as ``MAPPING`` (``p2o.converter.ops``)."""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import onnx

from p2o.converter import boundary
from p2o.converter.ops.base import OpMapping
from p2o.converter.ops.involution import op
from p2o.converter.ops.involution.match import Lowering, find_lowerings
from p2o.core.errors import CheckFailed


def involution_layers(net: Any) -> list[Any]:
    from p2o.zoo.rednet import Involution  # a zoo family module: imports Paddle

    return [m for m in net.sublayers() if isinstance(m, Involution)]


@contextlib.contextmanager
def mark(net: Any) -> Iterator[list[dict[str, int]]]:
    """Export-time: every Involution marks its input, kernel and output (see ``boundary``)."""
    layers = involution_layers(net)
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


def map_marked(model: onnx.ModelProto, configs: list[dict[str, int]], target: str = "cpu") -> int:
    """Replace each marked involution's lowering by one ``ai.p2o::Involution`` node.

    ``target`` (cpu, gpu) picks each node's function body (``involution.choose_body``).
    """

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
        op.attach(model, target=target)
    return len(by_index)


def map_found(
    model: onnx.ModelProto, found: list[Lowering], target: str = "cpu"
) -> list[dict[str, int]]:
    """Replace each recognised (unmarked) involution lowering by one Involution node."""

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
        op.attach(model, target=target)
    return configs


def describe(model: onnx.ModelProto, configs: list[dict[str, int]]) -> dict[str, Any]:
    """The manifest's ``custom_ops`` entry: configurations and the body each node runs."""
    nodes = [n for n in model.graph.node if (n.domain, n.op_type) == (op.DOMAIN, op.OP_TYPE)]
    return {
        "domain": op.DOMAIN,
        "op_type": op.OP_TYPE,
        "count": len(configs),
        "configurations": sorted({tuple(sorted(c.items())) for c in configs}),
        "function": "model-local ONNX function of standard ops",
        "bodies": dict(sorted(Counter(op.body_of(n) or "taps" for n in nodes).items())),
    }


def _present(model: onnx.ModelProto) -> bool:
    return any(n.domain == op.DOMAIN and n.op_type == op.OP_TYPE for n in model.graph.node)


MAPPING = OpMapping(
    name="involution",
    lowering="unfold",
    domain=op.DOMAIN,
    op_type=op.OP_TYPE,
    targets=op.TARGETS,
    present=_present,
    retarget=op.retarget,
    mark=mark,
    map_marked=map_marked,
    find=lambda model, program: find_lowerings(model),
    map_found=map_found,
    describe=describe,
)
