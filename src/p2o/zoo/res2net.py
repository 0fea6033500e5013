"""Res2Net (arXiv 1904.01169) and its ResNet-D variant ``_vd`` (arXiv 1812.01187).

A Res2Net bottleneck replaces the 3x3 convolution of a ResNet bottleneck by ``scales``
groups of ``width`` channels. Each of the first ``scales - 1`` groups has its own 3x3
convolution, whose input is the group plus the previous convolution's output, if any
(hierarchical residual connections: the receptive field grows from group to group); the
last group passes through unchanged. In a downsampling block (stride 2) the groups do not
feed each other and the last group is average-pooled to the new resolution instead.

As in PaddleClas's published weights: the 3x3 convolutions carry the stride, the first
block of the first stage (stride 1) is a normal hierarchical block, and the pools exclude
padding from their averages. ``_vd`` networks use the three-convolution stem and an
average pool before the 1x1 convolution of downsampling shortcuts.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

# arch → (depth, width of one group, scales, ResNet-D)
_ARCHS: dict[str, tuple[int, int, int, bool]] = {
    "Res2Net50_26w_4s": (50, 26, 4, False),
    "Res2Net50_vd_26w_4s": (50, 26, 4, True),
    "Res2Net50_14w_8s": (50, 14, 8, False),
    "Res2Net101_vd_26w_4s": (101, 26, 4, True),
    "Res2Net200_vd_26w_4s": (200, 26, 4, True),
}

_DEPTHS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    200: (3, 12, 48, 3),
}

_STAGE_OUT = (256, 512, 1024, 2048)


class ConvBN(nn.Layer):
    """Convolution (no bias), BatchNorm and optional ReLU; ``pool_first`` adds the ResNet-D
    2x2 average pool before the convolution."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        relu: bool = False,
        pool_first: bool = False,
    ) -> None:
        super().__init__()
        self._pool = (
            nn.AvgPool2D(kernel_size=2, stride=2, padding=0, ceil_mode=True, exclusive=True)
            if pool_first
            else None
        )
        self._conv = nn.Conv2D(
            cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias_attr=False
        )
        self._batch_norm = nn.BatchNorm2D(cout)
        self._relu = relu

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self._pool is not None:
            x = self._pool(x)
        x = self._batch_norm(self._conv(x))
        return F.relu(x) if self._relu else x


class Bottle2Neck(nn.Layer):
    """Res2Net bottleneck: 1x1 reduce, hierarchical 3x3 groups, 1x1 expand, residual add."""

    def __init__(
        self,
        name: str,
        cin: int,
        cout: int,
        width: int,
        scales: int,
        stride: int,
        vd: bool,
        first_of_net: bool,
    ) -> None:
        super().__init__()
        mid = width * scales
        self._scales = scales
        self._stride = stride
        self.conv0 = ConvBN(cin, mid, 1, relu=True)
        self._groups: list[ConvBN] = []
        for i in range(1, scales):
            conv = ConvBN(width, width, 3, stride=stride, relu=True)
            self.add_sublayer(f"{name}_branch2b_{i}", conv)
            self._groups.append(conv)
        self._last_pool = (
            nn.AvgPool2D(kernel_size=3, stride=stride, padding=1, exclusive=True)
            if stride != 1
            else None
        )
        self.conv2 = ConvBN(mid, cout, 1)
        self.short: ConvBN | None = None
        if cin != cout or stride != 1:
            if vd:
                self.short = ConvBN(cin, cout, 1, pool_first=not first_of_net)
            else:
                self.short = ConvBN(cin, cout, 1, stride=stride)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        parts = paddle.split(self.conv0(x), self._scales, axis=1)
        outs: list[paddle.Tensor] = []
        for i, conv in enumerate(self._groups):
            if i == 0 or self._stride != 1:
                outs.append(conv(parts[i]))
            else:
                outs.append(conv(parts[i] + outs[-1]))
        outs.append(parts[-1] if self._last_pool is None else self._last_pool(parts[-1]))
        y = self.conv2(paddle.concat(outs, axis=1))
        short = x if self.short is None else self.short(x)
        return F.relu(short + y)


def _block_name(depth: int, stage: int, index: int) -> str:
    """PaddleClas's name of a block: res2a, res2b, ...; res4a, res4b1, ... in deep stage 4."""
    if depth >= 101 and stage == 2:
        suffix = "a" if index == 0 else f"b{index}"
    else:
        suffix = chr(ord("a") + index)
    return f"res{stage + 2}{suffix}"


class Res2Net(nn.Layer):
    """Res2Net classifier: stem, four stages of Res2Net bottlenecks, global pool, linear."""

    def __init__(
        self, depth: int, width: int, scales: int, vd: bool, num_classes: int = 1000
    ) -> None:
        super().__init__()
        self._vd = vd
        if vd:
            self.conv1_1 = ConvBN(3, 32, 3, stride=2, relu=True)
            self.conv1_2 = ConvBN(32, 32, 3, relu=True)
            self.conv1_3 = ConvBN(32, 64, 3, relu=True)
        else:
            self.conv1 = ConvBN(3, 64, 7, stride=2, relu=True)
        self._max_pool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        self._blocks: list[Bottle2Neck] = []
        cin = 64
        for stage, count in enumerate(_DEPTHS[depth]):
            for index in range(count):
                block = Bottle2Neck(
                    name=_block_name(depth, stage, index),
                    cin=cin,
                    cout=_STAGE_OUT[stage],
                    width=width * 2**stage,
                    scales=scales,
                    stride=2 if index == 0 and stage > 0 else 1,
                    vd=vd,
                    first_of_net=stage == 0 and index == 0,
                )
                self.add_sublayer(f"bb_{stage}_{index}", block)
                self._blocks.append(block)
                cin = _STAGE_OUT[stage]
        self._avg_pool = nn.AdaptiveAvgPool2D(1)
        self.out = nn.Linear(cin, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self._vd:
            x = self.conv1_3(self.conv1_2(self.conv1_1(x)))
        else:
            x = self.conv1(x)
        x = self._max_pool(x)
        for block in self._blocks:
            x = block(x)
        return self.out(paddle.flatten(self._avg_pool(x), start_axis=1))

    def residual_branch_norms(self) -> list[nn.BatchNorm2D]:
        """The BatchNorm of each block's 1x1 expansion (its output meets the shortcut)."""
        return [block.conv2._batch_norm for block in self._blocks]


def build(arch: str, num_classes: int = 1000) -> Res2Net:
    """The Res2Net network of ``arch`` (a name of the registry's Res2Net family)."""
    if arch not in _ARCHS:
        raise KeyError(f"unknown Res2Net architecture {arch!r}")
    depth, width, scales, vd = _ARCHS[arch]
    return Res2Net(depth, width, scales, vd, num_classes=num_classes)
