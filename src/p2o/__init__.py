"""p2o: convert PaddlePaddle image classifiers to ONNX and prove the result computes the same."""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic version)
# The distribution on PyPI: `p2o` there is a different project (a Rust converter with a `p2o`
# script of its own); `pip install 'p2o-proof[cpu]'` installs this one.
DISTRIBUTION = "p2o-proof"
