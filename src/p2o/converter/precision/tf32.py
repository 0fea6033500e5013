"""tf32: an engine mode on the fp32 artifact (NVIDIA GPUs' TensorFloat-32 matrix units)."""

from p2o.converter.precision.base import Precision

PRECISION = Precision(
    name="tf32",
    make=None,
    engine=True,
    rule=None,  # judged as fp32: the element-wise rule at the user's tolerance
    native=("ort-cuda", "ort-trt"),
    about="TensorFloat-32 matrix products on NVIDIA GPUs, fp32 file",
)
