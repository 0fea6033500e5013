"""Marker stripping keeps graphs with control flow valid (issue 25: SwinTransformer's ``If``s).

paddle2onnx lowers Swin's window padding to ``If`` nodes whose branches read values of the
main graph (outer scope) that no main-graph node reads. Dead-node removal that looks only at
the main graph's node inputs dropped their producers: ``onnx.checker`` then rejected the graph
("Nodes in a graph must be topologically sorted, however input … of node If.0") and p2o
exited 3 where stock paddle2onnx works.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from p2o.converter import boundary

ort = pytest.importorskip("onnxruntime")


def _if_reading_outer_scope(marked: bool) -> onnx.ModelProto:
    """y = If(sum(x) > 0, then: x + c, else: x - c); ``c`` is a Constant node and an
    initializer-fed Add output read only inside the branches (the outer scope)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then_out = helper.make_tensor_value_info("then_y", TensorProto.FLOAT, [2])
    else_out = helper.make_tensor_value_info("else_y", TensorProto.FLOAT, [2])
    then_g = helper.make_graph(
        [helper.make_node("Add", ["x", "outer.c"], ["then_y"], name="then_add")],
        "then",
        [],
        [then_out],
    )
    else_g = helper.make_graph(
        [helper.make_node("Sub", ["x", "outer.d"], ["else_y"], name="else_sub")],
        "else",
        [],
        [else_out],
    )
    nodes = [
        helper.make_node(
            "Constant", [], ["outer.c"], value=numpy_helper.from_array(np.float32([1, 2]))
        ),
        helper.make_node("Add", ["outer.c", "w"], ["outer.d"], name="outer_add"),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["y_if"], then_branch=then_g, else_branch=else_g),
    ]
    inits = [
        numpy_helper.from_array(np.float32(0), "zero"),
        numpy_helper.from_array(np.float32([10, 20]), "w"),
    ]
    if marked:  # one of p2o's markers on the output, as an export with markers has
        m = boundary.bound("output", 0)
        inits += [
            numpy_helper.from_array(np.float32(-m), "lo"),
            numpy_helper.from_array(np.float32(m), "hi"),
        ]
        nodes.append(helper.make_node("Clip", ["y_if", "lo", "hi"], ["y"], name="marker"))
    else:
        nodes.append(helper.make_node("Identity", ["y_if"], ["y"]))
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"x": x})[0])


@pytest.mark.parametrize("marked", [False, True], ids=["unmarked", "marked"])
def test_strip_keeps_values_read_only_by_a_subgraph(marked: bool) -> None:
    model = _if_reading_outer_scope(marked)
    pos, neg = np.float32([1, 1]), np.float32([-1, -1])
    before = _run(model, pos), _run(model, neg)
    assert boundary.strip(model) == (1 if marked else 0)
    onnx.checker.check_model(model, full_check=True)  # raised before the fix
    kept = {o for n in model.graph.node for o in n.output}
    assert {"outer.c", "outer.d"} <= kept
    assert "w" in {i.name for i in model.graph.initializer}
    np.testing.assert_array_equal(_run(model, pos), before[0])  # [2, 3]
    np.testing.assert_array_equal(_run(model, neg), before[1])  # [-12, -23]
    assert all(n.op_type != "Clip" for n in model.graph.node)


def test_remove_dead_still_drops_unused_nodes_and_initializers() -> None:
    model = _if_reading_outer_scope(marked=False)
    model.graph.node.append(helper.make_node("Neg", ["x"], ["unused"], name="dead"))
    model.graph.initializer.append(numpy_helper.from_array(np.float32(5), "unused_init"))
    boundary.remove_dead(model)
    assert "dead" not in {n.name for n in model.graph.node}
    assert "unused_init" not in {i.name for i in model.graph.initializer}
    onnx.checker.check_model(model, full_check=True)
