"""Find the first layer where an ONNX model stops computing what the Paddle network computes.

Paddle side: forward hooks on every leaf layer of the dygraph network record its output,
in execution order. ONNX side: every float tensor of the graph is exposed as an extra
output and computed with ONNX Runtime. Each Paddle output is matched to the ONNX tensor of
the same shape, at or after the previous match, with the smallest relative error.

Some Paddle outputs have no ONNX counterpart on purpose (a convolution folded into the
BatchNorm after it), so one unmatched layer proves nothing. Divergence is where matching
stops for good: the first layer after the last one that still matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from p2o.results import Divergence

WINDOW = 400  # ONNX tensors searched past the previous match

# ONNX ops that can carry a Paddle layer's computation (after fusion, a BatchNorm may live
# in the Conv before it). Used to name the suspect ONNX node of the diverging layer.
ONNX_OPS: dict[str, tuple[str, ...]] = {
    "Conv2D": ("Conv",),
    "BatchNorm2D": ("BatchNormalization", "Conv"),
    "BatchNorm": ("BatchNormalization", "Conv"),
    "Linear": ("Gemm", "MatMul"),
    "ReLU": ("Relu",),
    "Sigmoid": ("Sigmoid",),
    "Softmax": ("Softmax",),
    "MaxPool2D": ("MaxPool",),
    "AvgPool2D": ("AveragePool",),
    "AdaptiveAvgPool2D": ("GlobalAveragePool", "ReduceMean", "AveragePool"),
    "Dropout": ("Identity", "Dropout"),
    "Flatten": ("Flatten", "Reshape"),
}


def paddle_intermediates(net: Any, x: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(layer name, layer type, output) for every leaf layer, in execution order."""
    import paddle

    records: list[tuple[str, str, np.ndarray]] = []
    handles = []
    for name, layer in net.named_sublayers():
        if list(layer.children()):
            continue

        def hook(layer: Any, inputs: Any, output: Any, name: str = name) -> None:
            if isinstance(output, paddle.Tensor):
                records.append((name, type(layer).__name__, output.numpy()))

        handles.append(layer.register_forward_post_hook(hook))
    try:
        net.eval()
        with paddle.no_grad():
            final = net(paddle.to_tensor(x)).numpy()
    finally:
        for h in handles:
            h.remove()
    records.append(("(output)", type(net).__name__, final))
    return records


def onnx_intermediates(model: onnx.ModelProto, x: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(node name, op type, output) for every float tensor the graph computes, in order."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    inferred = onnx.shape_inference.infer_shapes(m)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in inferred.graph.output})
    existing = {o.name for o in m.graph.output}
    order: list[tuple[str, str, str]] = []
    for i, node in enumerate(m.graph.node):
        for out in node.output:
            if types.get(out, onnx.TensorProto.FLOAT) != onnx.TensorProto.FLOAT or not out:
                continue
            order.append((out, node.name or f"{node.op_type}_{i}", node.op_type))
            if out not in existing:
                m.graph.output.append(
                    onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)
                )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(None, {m.graph.input[0].name: x}), strict=True))
    return [(node, op, np.asarray(values[t])) for t, node, op in order if t in values]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.abs(a).max())
    if not np.isfinite(b).all():
        return float("inf")
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(b).max() > 0)


def _suspect(
    theirs: list[tuple[str, str, np.ndarray]], first: int, layer_type: str
) -> tuple[str, str]:
    """The ONNX node most likely computing the diverging layer: the first node after the last
    match whose op can carry that layer type, else simply the first node after the match."""
    ops = ONNX_OPS.get(layer_type, ())
    for node, op, _ in theirs[first : first + WINDOW]:
        if op in ops:
            return node, op
    return (theirs[first][0], theirs[first][1]) if first < len(theirs) else ("", "")


def localize(net: Any, model: onnx.ModelProto, x: np.ndarray, tolerance: float) -> Divergence:
    """The first Paddle layer of ``net`` whose output ``model`` no longer reproduces."""
    ours = paddle_intermediates(net, x)
    theirs = onnx_intermediates(model, x)
    start = 0
    last = -1
    last_node = ""
    best_after: list[tuple[float, int]] = []
    for i, (_, _, a) in enumerate(ours):
        best = (float("inf"), -1)
        for j in range(start, min(len(theirs), start + WINDOW)):
            b = theirs[j][2]
            if b.shape == a.shape:
                err = _rel(a, b)
                if err < best[0]:
                    best = (err, j)
        best_after.append(best)
        if best[0] <= tolerance:
            start, last, last_node = best[1], i, theirs[best[1]][0]
    if last == len(ours) - 1:
        return Divergence(False, "", "", "", "", 0.0, ours[last][0], last_node, last + 1, len(ours))
    err, _ = best_after[last + 1]
    node, op = _suspect(theirs, start + 1 if last >= 0 else 0, ours[last + 1][1])
    matched = sum(1 for e, _ in best_after if e <= tolerance)
    return Divergence(
        True,
        ours[last + 1][0],
        ours[last + 1][1],
        node,
        op,
        err,
        ours[last][0] if last >= 0 else "",
        last_node,
        matched,
        len(ours),
    )
