"""A tiny Paddle classifier (conv → relu → flatten → linear) for runtime and bench tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export_tiny_net(out: Path, seed: int, classes: int, shape: tuple[int, int, int]) -> Any:
    """Build the net with ``paddle.seed(seed)``, export it to ``out`` and return it."""
    import paddle

    from p2o.converter.export import export_static

    paddle.seed(seed)
    channels, height, width = shape
    net = paddle.nn.Sequential(
        paddle.nn.Conv2D(channels, 4, 3, padding=1),
        paddle.nn.ReLU(),
        paddle.nn.Flatten(),
        paddle.nn.Linear(4 * height * width, classes),
    )
    export_static(net, out, input_shape=shape)
    return net
