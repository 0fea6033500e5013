"""Building blocks shared by zoo families (with PaddleClas's key names)."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn


class ConvBN(nn.Layer):
    """Bias-free convolution ``_conv`` ("same" padding) + BatchNorm ``_batch_norm`` (+ ReLU)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self._conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias_attr=False,
        )
        self._batch_norm = nn.BatchNorm2D(out_channels)
        self.relu = relu

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self._batch_norm(self._conv(x))
        return F.relu(x) if self.relu else x
