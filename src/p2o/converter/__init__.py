"""Paddle → ONNX conversion: ``convert(...)`` returns a ``ConversionResult``."""

from p2o.converter.pipeline import ConversionResult, convert

__all__ = ["ConversionResult", "convert"]
