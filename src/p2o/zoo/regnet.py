"""RegNetX, from Radosavovic et al., "Designing Network Design Spaces" (arXiv 2003.13678).

A RegNetX is a stem (3x3 stride-2 convolution to 32 channels), four stages of X blocks and a
head (global average pooling, fully connected layer). The X block is a residual bottleneck
with bottleneck ratio 1: 1x1 conv, 3x3 group conv (carrying the stage's stride), 1x1 conv,
each followed by BatchNorm, ReLU after the first two and after the residual addition. The
first block of every stage downsamples by 2 and has a projection shortcut (1x1 conv + BN).

Stage widths and depths come from the paper's quantized linear parametrization: block ``j``
gets the continuous width ``u_j = w0 + wa * j``, which is snapped to ``w0 * wm ** s_j`` with
``s_j = round(log(u_j / w0) / log(wm))`` and rounded to a multiple of 8; blocks of equal
width form a stage. Each stage's group width is then capped at its width and the width
rounded to a multiple of the group width.
"""

from __future__ import annotations

import math

import paddle
from paddle import nn

from p2o.zoo.layers import ConvBN

# name → (w0, wa, wm, depth, group width), the RegNetX models of the paper's appendix.
_CONFIGS: dict[str, tuple[int, float, float, int, int]] = {
    "RegNetX_200MF": (24, 36.44, 2.49, 13, 8),
    "RegNetX_400MF": (24, 24.48, 2.54, 22, 16),
    "RegNetX_600MF": (48, 36.97, 2.24, 16, 24),
    "RegNetX_800MF": (56, 35.73, 2.28, 16, 16),
    "RegNetX_1600MF": (80, 34.01, 2.25, 18, 24),
    "RegNetX_3200MF": (88, 26.31, 2.25, 25, 48),
    "RegNetX_4GF": (96, 38.65, 2.43, 23, 40),
    "RegNetX_6400MF": (184, 60.83, 2.07, 17, 56),
    "RegNetX_8GF": (80, 49.56, 2.88, 23, 120),
    "RegNetX_12GF": (168, 73.36, 2.37, 19, 112),
    "RegNetX_16GF": (216, 55.59, 2.10, 22, 128),
    "RegNetX_32GF": (320, 69.86, 2.00, 23, 168),
}

STEM_WIDTH = 32
QUANTUM = 8


def stage_plan(
    w0: int, wa: float, wm: float, depth: int, group_width: int, quantum: int = QUANTUM
) -> list[tuple[int, int, int]]:
    """Per-stage ``(width, depth, group width)`` of a RegNet from its linear parameters."""
    block_widths: list[int] = []
    for j in range(depth):
        step = round(math.log((w0 + wa * j) / w0) / math.log(wm))
        block_widths.append(round(w0 * wm**step / quantum) * quantum)
    plan: list[tuple[int, int, int]] = []
    for width in sorted(set(block_widths)):
        gw = min(group_width, width)
        plan.append((round(width / gw) * gw, block_widths.count(width), gw))
    return plan


class XBlock(nn.Layer):
    """Residual bottleneck with group convolution and bottleneck ratio 1."""

    def __init__(self, in_channels: int, width: int, stride: int, group_width: int) -> None:
        super().__init__()
        self.conv0 = ConvBN(in_channels, width, 1)
        self.conv1 = ConvBN(width, width, 3, stride=stride, groups=width // group_width)
        self.conv2 = ConvBN(width, width, 1, relu=False)
        needs_projection = stride != 1 or in_channels != width
        self.short = ConvBN(in_channels, width, 1, stride, relu=False) if needs_projection else None
        self._relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        shortcut = self.short(x) if self.short is not None else x
        return self._relu(self.conv2(self.conv1(self.conv0(x))) + shortcut)


class RegNetX(nn.Layer):
    """Stem, four stages of X blocks named ``s{stage}_b{block}`` (from 1), pooled linear head."""

    def __init__(self, plan: list[tuple[int, int, int]], num_classes: int = 1000) -> None:
        super().__init__()
        self.conv = ConvBN(3, STEM_WIDTH, 3, stride=2)
        self._blocks: list[XBlock] = []
        channels = STEM_WIDTH
        for s, (width, depth, group_width) in enumerate(plan, start=1):
            for b in range(1, depth + 1):
                block = XBlock(channels, width, 2 if b == 1 else 1, group_width)
                self.add_sublayer(f"s{s}_b{b}", block)
                self._blocks.append(block)
                channels = width
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.out = nn.Linear(channels, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv(x)
        for block in self._blocks:
            x = block(x)
        return self.out(paddle.flatten(self.pool(x), start_axis=1))

    def residual_branch_norms(self) -> list[nn.BatchNorm2D]:
        """The BatchNorm closing each block's residual branch (``conv2``)."""
        return [block.conv2._batch_norm for block in self._blocks]


def build(arch: str, num_classes: int = 1000) -> RegNetX:
    """The RegNetX network named ``arch`` (e.g. ``RegNetX_4GF``)."""
    if arch not in _CONFIGS:
        raise KeyError(f"unknown RegNet architecture {arch!r}")
    return RegNetX(stage_plan(*_CONFIGS[arch]), num_classes=num_classes)
