"""p2o: convert PaddlePaddle image classifiers to ONNX and prove the result computes the same."""

__version__ = "0.1.0"
