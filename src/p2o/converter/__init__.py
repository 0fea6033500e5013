"""Paddle → ONNX conversion: ``convert(...)`` returns a ``ConversionResult``."""

from p2o.converter.pipeline import ConversionResult, ConvertOptions, convert

__all__ = ["ConversionResult", "ConvertOptions", "convert"]
