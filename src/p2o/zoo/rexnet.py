"""ReXNet (Han et al., "Rethinking Channel Dimensions for Efficient Model Design", 2020).

An inverted-residual network whose output channels grow linearly block by block (16 → 180
at width 1.0), with SiLU after the expansion convolutions, ReLU6 after the depthwise ones,
squeeze-excitation from the third stage on, and a residual add on the leading channels of
every stride-1 block (the block widens, so the shortcut covers only its input channels).
"""

from __future__ import annotations

from typing import cast

import paddle
from paddle import nn

_WIDTHS = {
    "ReXNet_1_0": 1.0,
    "ReXNet_1_3": 1.3,
    "ReXNet_1_5": 1.5,
    "ReXNet_2_0": 2.0,
    "ReXNet_3_0": 3.0,
}

# Blocks per stage, stride of each stage's first block, and whether the stage uses SE.
_STAGE_BLOCKS = (1, 2, 2, 3, 3, 5)
_STAGE_STRIDES = (1, 2, 2, 2, 1, 2)
_STAGE_SE = (False, False, True, True, True, True)
_STEM = 32
_FIRST = 16
_FINAL_INCREASE = 180
_PENULTIMATE = 1280
_EXPANSION = 6
_SE_REDUCTION = 12


def _conv_bn(
    cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1
) -> list[nn.Layer]:
    """A bias-free convolution followed by BatchNorm (as two layers, for flat indexing)."""
    conv = nn.Conv2D(cin, cout, kernel, stride, kernel // 2, groups=groups, bias_attr=False)
    return [conv, nn.BatchNorm2D(cout)]


class SqueezeExcite(nn.Layer):
    """Channel attention: pool → 1x1 conv → BN → ReLU → 1x1 conv → sigmoid gate."""

    def __init__(self, channels: int, reduction: int = _SE_REDUCTION) -> None:
        super().__init__()
        mid = channels // reduction
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Sequential(
            nn.Conv2D(channels, mid, 1),
            nn.BatchNorm2D(mid),
            nn.ReLU(),
            nn.Conv2D(mid, channels, 1),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x * nn.functional.sigmoid(self.fc(self.pool(x)))


class LinearBottleneck(nn.Layer):
    """Inverted residual: [1x1 expand, SiLU] → 3x3 depthwise → [SE] → ReLU6 → 1x1 linear."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int, use_se: bool) -> None:
        super().__init__()
        self.cin, self.cout = cin, cout
        self.use_shortcut = stride == 1 and cin <= cout
        mid = cin * expansion
        layers: list[nn.Layer] = []
        if expansion != 1:
            layers += [*_conv_bn(cin, mid), nn.Silu()]
        layers += _conv_bn(mid, mid, 3, stride, groups=mid)
        if use_se:
            layers.append(SqueezeExcite(mid))
        layers += [nn.ReLU6(), *_conv_bn(mid, cout)]
        self.out = nn.Sequential(*layers)

    def last_norm(self) -> nn.BatchNorm2D:
        """The BatchNorm closing the branch."""
        return cast(nn.BatchNorm2D, self.out[len(self.out) - 1])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.out(x)
        if not self.use_shortcut:
            return y
        if self.cin == self.cout:
            return y + x
        # Partial-channel residual without in-place slice assignment (exports cleanly).
        head, tail = paddle.split(y, [self.cin, self.cout - self.cin], axis=1)
        return paddle.concat([head + x, tail], axis=1)


def _block_channels(width: float) -> list[tuple[int, int]]:
    """(in, out) channels of every bottleneck: outputs rise linearly, scaled and rounded."""
    n = sum(_STAGE_BLOCKS)
    step = _FINAL_INCREASE / n
    pairs = []
    cin = round(_STEM * width)
    for i in range(n):
        cout = round((_FIRST + i * step) * width)
        pairs.append((cin, cout))
        cin = cout
    return pairs


class ReXNet(nn.Layer):
    """ReXNet-×``width``: stem, 16 linear bottlenecks, 1x1 head conv and a 1x1-conv classifier."""

    def __init__(self, width: float, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        strides, ses = [], []
        for blocks, stride, se in zip(_STAGE_BLOCKS, _STAGE_STRIDES, _STAGE_SE, strict=True):
            strides += [stride] + [1] * (blocks - 1)
            ses += [se] * blocks
        stem = round(_STEM * width)
        layers: list[nn.Layer] = [*_conv_bn(3, stem, 3, 2), nn.Silu()]
        for i, (cin, cout) in enumerate(_block_channels(width)):
            expansion = 1 if i == 0 else _EXPANSION
            layers.append(LinearBottleneck(cin, cout, expansion, strides[i], ses[i]))
        head = int(_PENULTIMATE * width)
        layers += [*_conv_bn(cout, head), nn.Silu(), nn.AdaptiveAvgPool2D(1)]
        self.features = nn.Sequential(*layers)
        self.output = nn.Sequential(nn.Dropout(dropout), nn.Conv2D(head, num_classes, 1))

    def residual_branch_norms(self) -> list[nn.BatchNorm2D]:
        """The last BatchNorm of every bottleneck that has a shortcut."""
        return [
            b.last_norm()
            for b in self.features
            if isinstance(b, LinearBottleneck) and b.use_shortcut
        ]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return paddle.flatten(self.output(self.features(x)), start_axis=1)


def build(arch: str, num_classes: int = 1000) -> ReXNet:
    """The ReXNet of ``arch`` (e.g. ``ReXNet_1_3``)."""
    if arch not in _WIDTHS:
        raise KeyError(f"unknown ReXNet architecture {arch!r}")
    return ReXNet(_WIDTHS[arch], num_classes=num_classes)
