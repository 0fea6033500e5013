"""Conversions broken on purpose, for the checkers that must catch them (noise floor, localizer).

Each breaker edits an ONNX model in place and returns the name of the node it broke.
"""

from __future__ import annotations

import numpy as np
import onnx


def _weight(model: onnx.ModelProto, name: str) -> tuple[np.ndarray, object]:
    """A constant tensor by name (an initializer or a Constant node) and where it lives."""
    for t in model.graph.initializer:
        if t.name == name:
            return onnx.numpy_helper.to_array(t), t
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            attr = next(a for a in n.attribute if a.name == "value")
            return onnx.numpy_helper.to_array(attr.t), attr.t
    raise KeyError(name)


def scale_conv_weight(model: onnx.ModelProto, factor: float = 1.05, index: int = -1) -> str:
    """The weight of Conv number ``index`` (default: the middle one) times ``factor``."""
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    conv = convs[len(convs) // 2 if index < 0 else index]
    arr, proto = _weight(model, conv.input[1])
    proto.CopyFrom(onnx.numpy_helper.from_array(arr * np.float32(factor), conv.input[1]))  # type: ignore[attr-defined]
    return conv.name


def remove_cast(model: onnx.ModelProto, index: int = 0) -> str:
    """Cast number ``index`` removed (its consumers read its input instead)."""
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    cast = casts[index]
    src, dst = cast.input[0], cast.output[0]
    model.graph.node.remove(cast)
    for n in model.graph.node:
        n.input[:] = [src if i == dst else i for i in n.input]
    for o in model.graph.output:
        if o.name == dst:
            o.name = src
    return cast.name


def change_softmax_axis(model: onnx.ModelProto, index: int = 0, axis: int = 1) -> str:
    """Softmax number ``index`` over another axis."""
    sm = [n for n in model.graph.node if n.op_type == "Softmax"][index]
    for a in sm.attribute:
        if a.name == "axis":
            a.i = axis
            break
    else:
        sm.attribute.append(onnx.helper.make_attribute("axis", axis))
    return sm.name
