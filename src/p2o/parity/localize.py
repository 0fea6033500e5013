"""Find the first layer where an ONNX model stops computing what the Paddle network computes.

Paddle side: forward hooks on every leaf layer of the dygraph network record its output,
in execution order. ONNX side: every float tensor of the graph is exposed as an extra
output and computed with ONNX Runtime. Each Paddle output is matched to the ONNX tensor of
the same shape, at or after the previous match, with the smallest error under parity's
tolerance rule (``compare.min_tolerance``), so every "off by" is on the scale of
``--tolerance``.

The localizer speaks only when the final outputs fail at the tolerance. Some Paddle outputs
have no ONNX counterpart on purpose (a convolution folded into the BatchNorm after it), so
one unmatched layer proves nothing. Divergence: after the last layer within tolerance, the
first layer whose counterpart is beyond it (numbers drifted), or, when no later layer has a
counterpart at all, the first layer after it (the graph computes something else from there).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx

from p2o.core.results import Divergence
from p2o.core.tolerance import min_tolerance

WINDOW = 400  # ONNX tensors searched past the previous match
# an ONNX tensor this close (parity's rule) to a layer's output is that layer's counterpart;
# two different tensors of a network are off by O(1)
MATCH = 1e-2

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


def _onnx_run(
    model: onnx.ModelProto, x: np.ndarray
) -> tuple[list[tuple[str, str, np.ndarray]], list[np.ndarray]]:
    """The intermediates and the graph's own outputs."""
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
    records = [(node, op, np.asarray(values[t])) for t, node, op in order if t in values]
    return records, [np.asarray(values[o.name]) for o in model.graph.output]


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


def _best(
    a: np.ndarray, theirs: list[tuple[str, str, np.ndarray]], start: int
) -> tuple[float, int]:
    """The ONNX tensor (in the window from ``start``) closest to ``a`` under the rule."""
    best = (math.inf, -1)
    for j in range(start, min(len(theirs), start + WINDOW)):
        err = min_tolerance(a, theirs[j][2])
        if err is not None and err < best[0]:
            best = (err, j)
    return best


def _diverging(errors: list[float], last: int, match: int | float) -> tuple[int, bool]:
    """(index, drifted) of the first diverging layer after ``last`` (the last within tolerance).

    A layer with a counterpart (error <= match) drifted past the tolerance; a layer without
    one is skipped when the next layer has one (a layer fused into the next, e.g. a
    convolution into its BatchNorm), else the graph computes something else from there.
    """
    n = len(errors)
    for i in range(last + 1, n):
        if errors[i] <= match:
            return i, True
        if i + 1 >= n or errors[i + 1] > match:
            return i, False
    return n - 1, False  # every layer within tolerance, yet the final outputs are not


def localize(net: Any, model: onnx.ModelProto, x: np.ndarray, tolerance: float) -> Divergence:
    """The first Paddle layer of ``net`` whose output ``model`` no longer reproduces.

    Every error is parity's rule (``compare.min_tolerance``), on the scale of ``tolerance``.
    Nothing is named when the final outputs agree within ``tolerance``. A layer's
    counterpart is the closest ONNX tensor of its shape when within ``max(MATCH,
    tolerance)`` (a fused layer has none); see ``_diverging`` for which layer is named.
    """
    ours = paddle_intermediates(net, x)
    theirs, final = _onnx_run(model, x)
    final_err = min_tolerance(ours[-1][2], final[0]) if final else None
    match = max(MATCH, tolerance)
    start, last, last_node = 0, -1, ""
    best_after: list[tuple[float, int]] = []
    for i, (_, _, a) in enumerate(ours):
        best = _best(a, theirs, start)
        best_after.append(best)
        if best[0] <= match:
            start = best[1]
        if best[0] <= tolerance:
            last, last_node = i, theirs[best[1]][0]
    matched = sum(1 for e, _ in best_after if e <= tolerance)
    last_name = ours[last][0] if last >= 0 else ""
    if final_err is not None and final_err <= tolerance:
        return Divergence(False, "", "", "", "", 0.0, last_name, last_node, matched, len(ours))
    at, drifted = _diverging([e for e, _ in best_after], last, match)
    err, j = best_after[at]
    if drifted:
        node, op = theirs[j][0], theirs[j][1]
    else:
        anchor = best_after[last][1] + 1 if last >= 0 else 0
        node, op = _suspect(theirs, anchor, ours[at][1])
    return Divergence(
        True,
        ours[at][0],
        ours[at][1],
        node,
        op,
        err,
        last_name,
        last_node,
        matched,
        len(ours),
        tolerance=tolerance,
        final_min_tolerance=math.inf if final_err is None else final_err,
    )
