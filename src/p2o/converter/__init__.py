"""Paddle → ONNX conversion."""
