"""fp16 artifact: weights and activations in float16, inputs and outputs kept float32.

onnxconverter-common's ``convert_float_to_float16`` with ``keep_io_types=True`` (Casts at
the graph's edges), its default op block list (ops without fp16 kernels stay fp32).
Model-local functions (RedNet's involution) are inlined first: the converter does not
enter function bodies. ONNX Runtime's CPU provider runs most fp16 ops by casting back to
fp32, so the artifact pays on GPUs (CUDA, TensorRT), not here.
"""

from __future__ import annotations

import warnings
from importlib import metadata
from typing import Any

import onnx

from p2o.converter import ops
from p2o.converter.precision.base import Precision, PrecisionInfo, PrecisionOptions
from p2o.core.errors import EnvironmentProblem
from p2o.core.results import AgreementRule


def convert(model: onnx.ModelProto) -> tuple[onnx.ModelProto, PrecisionInfo]:
    try:
        from onnxconverter_common import float16
    except ImportError as exc:
        raise EnvironmentProblem(
            f"--precision fp16 needs onnxconverter-common ({exc}); "
            "pip install 'p2o-proof[precision]'"
        ) from exc

    source = ops.inline(model) if model.functions else model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "values truncated to fp16" is what fp16 is
        out = float16.convert_float_to_float16(source, keep_io_types=True)
    info = PrecisionInfo(
        "fp16",
        "onnxconverter_common.float16.convert_float_to_float16",
        {
            "keep_io_types": True,
            "op_block_list": "default",
            "tool": f"onnxconverter-common {metadata.version('onnxconverter-common')}",
        },
    )
    return out, info


def make(model: onnx.ModelProto, options: PrecisionOptions, preprocess: Any = None) -> Any:
    return convert(model)


# Correct artifacts, one model per family (64 crops, AMD EPYC, synthetic weights;
# docs/precision.md): cosine 1.0000, top-1 96.9-100 %, top-5 100 %, range error <= 0.007
PRECISION = Precision(
    name="fp16",
    make=make,
    engine=True,
    rule=AgreementRule("fp16", 0.999, 0.90, 0.98, 0.02),
    native=("ort-cuda", "ort-trt"),
    about="float16 weights and activations, float32 inputs and outputs",
)
