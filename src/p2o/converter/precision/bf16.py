"""bf16: an engine hint on the fp32 artifact (OpenVINO's ``INFERENCE_PRECISION_HINT``)."""

from p2o.converter.precision.base import Precision
from p2o.core.results import AgreementRule

# Correct results, one model per family (64 crops, AMD EPYC, synthetic weights; docs/precision.md):
#   cosine 0.9992-0.9998, top-1 89.1-98.4 %, top-5 100 %, range error <= 0.049
PRECISION = Precision(
    name="bf16",
    make=None,  # no file of its own: the engine computes the fp32 model in bfloat16
    engine=True,
    rule=AgreementRule("bf16", 0.998, 0.80, 0.98, 0.10),
    native=("openvino",),
    about="bfloat16 compute on CPUs that have it (AVX-512 BF16, AMX), fp32 file",
)
