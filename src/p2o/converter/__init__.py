"""Paddle → ONNX conversion: ``convert(...)`` returns a ``ConversionResult``."""

from p2o.converter.pipeline import ConversionResult, ConvertOptions, convert
from p2o.converter.source import ModelSource

__all__ = ["ConversionResult", "ConvertOptions", "ModelSource", "convert"]
