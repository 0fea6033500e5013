"""Graph passes on model-local functions, for any op mapping: inline every function, resolve
the ``If`` dispatches whose condition is constant, and drop the nodes left unused.

The result holds standard ONNX ops only, for runtimes and tools that do not enter model-local
functions themselves (OpenVINO's reader, the fp16 converter, the INT8 quantizer).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
import onnx.inliner
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, helper


def inline_functions(model: ModelProto, custom_domains: Iterable[str] = ()) -> ModelProto:
    """``model`` with its functions inlined, constant ``If``s folded, dead nodes dropped, and
    the imports of ``custom_domains`` removed when no node of theirs is left."""
    out = onnx.inliner.inline_local_functions(model)
    fold_constant_ifs(out.graph)
    drop_dead_nodes(out.graph)
    used = {n.domain for n in all_nodes(out.graph)}
    gone = set(custom_domains) - used
    if gone:
        kept = [o for o in out.opset_import if o.domain not in gone]
        del out.opset_import[:]
        out.opset_import.extend(kept)
    return out


def all_nodes(graph: GraphProto) -> Iterable[NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from all_nodes(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from all_nodes(sub)


def default_opset(model: ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    raise ValueError("the model imports no default-domain opset")


def _constant_value(node: NodeProto) -> np.ndarray | None:
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    attr = node.attribute[0]
    if attr.ref_attr_name:
        return None
    if attr.name == "value":
        return onnx.numpy_helper.to_array(attr.t)
    if attr.name in ("value_int", "value_float", "value_ints", "value_floats"):
        return np.array(helper.get_attribute_value(attr))
    return None


_FOLDABLE = {
    "Equal": lambda a, b: np.equal(a, b),
    "And": lambda a, b: np.logical_and(a, b),
    "Or": lambda a, b: np.logical_or(a, b),
}


def fold_constant_ifs(graph: GraphProto) -> None:
    """Replace each ``If`` with a constant condition by its taken branch, repeatedly."""
    while True:
        known: dict[str, np.ndarray] = {}
        for node in graph.node:
            value = _constant_value(node)
            if value is not None:
                known[node.output[0]] = value
            elif node.op_type in _FOLDABLE and all(i in known for i in node.input):
                known[node.output[0]] = _FOLDABLE[node.op_type](*(known[i] for i in node.input))
        for index, node in enumerate(graph.node):
            if node.op_type == "If" and node.input[0] in known:
                cond = bool(np.asarray(known[node.input[0]]).reshape(-1)[0])
                name = "then_branch" if cond else "else_branch"
                branch = next(a.g for a in node.attribute if a.name == name)
                spliced = _splice(branch, list(node.output))
                del graph.node[index]
                for offset, new in enumerate(spliced):
                    graph.node.insert(index + offset, new)
                break
        else:
            return


def _splice(branch: GraphProto, outputs: list[str]) -> list[NodeProto]:
    """The branch's nodes, writing the ``If`` outputs instead of the branch outputs."""
    nodes = [NodeProto() for _ in branch.node]
    for new, old in zip(nodes, branch.node, strict=True):
        new.CopyFrom(old)
    produced = {o: n for n in nodes for o in n.output}
    for value, target in zip((o.name for o in branch.output), outputs, strict=True):
        if value in produced and value not in (i for n in nodes for i in n.input):
            node = produced[value]
            node.output[list(node.output).index(value)] = target
        else:  # an outer value or one also used inside: copy it out
            nodes.append(helper.make_node("Identity", [value], [target], name=target))
    return nodes


def drop_dead_nodes(graph: GraphProto) -> None:
    """Remove nodes none of whose outputs is used (subgraph uses included)."""
    while True:
        used = {o.name for o in graph.output}
        for node in all_nodes(graph):  # subgraphs read values of this scope too
            used.update(node.input)
        keep = [n for n in graph.node if any(o in used for o in n.output if o)]
        if len(keep) == len(graph.node):
            return
        del graph.node[:]
        graph.node.extend(keep)
