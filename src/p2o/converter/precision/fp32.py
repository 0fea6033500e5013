"""fp32: the converter's own output, judged element-wise by the tolerance rule."""

from p2o.converter.precision.base import Precision

PRECISION = Precision(
    name="fp32",
    make=None,  # the converter's plain output
    engine=True,
    rule=None,  # the element-wise tolerance rule (p2o.core.tolerance)
    native=("paddle", "paddle-plain", "ort-cpu", "ort-cuda", "ort-trt", "openvino"),
    about="float32 weights and activations: the reference precision",
)
