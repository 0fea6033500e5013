"""RedNet: ResNet bottlenecks whose 3x3 convolution is an involution.

Li et al., "Involution: Inverting the Inherence of Convolution for Visual Recognition",
CVPR 2021 (arXiv 2103.06255). An involution shares one spatial kernel across the
``group_channels`` channels of a group and generates that kernel, per output pixel, from
the input itself: a 1x1 convolution reduces the channels by ``reduction`` (with BatchNorm
and ReLU), a second 1x1 convolution (with bias) expands them to ``K*K*groups`` kernel
taps. With a stride, the input is average-pooled before the kernel generation and the
aggregation window moves by the stride.

Stem: 3x3 conv (stride 2) + BN + ReLU, 3x3 involution + BN + ReLU, 3x3 conv + BN + ReLU,
3x3 max pool (stride 2). Then four stages of bottlenecks (widths 64/128/256/512,
expansion 4; the stride sits on the involution), global average pool and a linear layer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

# architecture → bottlenecks per stage
_DEPTHS: dict[str, tuple[int, int, int, int]] = {
    "RedNet26": (1, 2, 4, 1),
    "RedNet38": (2, 3, 5, 2),
    "RedNet50": (3, 4, 6, 3),
    "RedNet101": (3, 4, 23, 3),
    "RedNet152": (3, 8, 36, 3),
}

_EXPANSION = 4
_STEM_WIDTH = 64
# Synthetic weights (``synthetic_tweaks``): the static part of every generated kernel is a
# normalised Gaussian window of std ``_SIGMA`` taps; its dynamic part has a per-tap std of
# about ``_DYNAMIC`` times the mean tap (1/K²).
_SIGMA = 0.7
_DYNAMIC = 0.5


class ConvUnit(nn.Layer):
    """A convolution (``conv``), optionally followed by BatchNorm (``bn``) and ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        norm: bool = True,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            bias_attr=False if norm else None,
        )
        self.bn = nn.BatchNorm2D(out_channels) if norm else None
        self.act = act

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.act else x


def involution(
    x: paddle.Tensor, kernel: paddle.Tensor, kernel_size: int, stride: int, groups: int
) -> paddle.Tensor:
    """Aggregate ``x`` [N, C, H, W] with per-pixel kernels [N, groups*K*K, Ho, Wo].

    ``out[n, c, i, j] = sum_{a,b} kernel[n, g*K*K + a*K + b, i, j]
    * x_pad[n, c, i*stride + a, j*stride + b]`` with ``g = c // (C // groups)`` and zero
    padding ``(K - 1) // 2``.
    """
    form = _involution_eager if paddle.in_dynamic_mode() else _involution_export
    return form(x, kernel, kernel_size, stride, groups)


def _involution_export(
    x: paddle.Tensor, kernel: paddle.Tensor, kernel_size: int, stride: int, groups: int
) -> paddle.Tensor:
    """``involution`` as exported: PaddleClas's six-axis arrangement, which the converter
    recognises as one involution."""
    channels = x.shape[1]
    height, width = kernel.shape[2], kernel.shape[3]
    taps = kernel_size * kernel_size
    patches = F.unfold(x, kernel_size, strides=stride, paddings=(kernel_size - 1) // 2)
    patches = patches.reshape([0, groups, channels // groups, taps, height, width])
    weights = kernel.reshape([0, groups, 1, taps, height, width])
    return (patches * weights).sum(axis=3).reshape([0, channels, height, width])


def _involution_eager(
    x: paddle.Tensor, kernel: paddle.Tensor, kernel_size: int, stride: int, groups: int
) -> paddle.Tensor:
    """``involution`` for eager runs (weight synthesis, calibration): the same sum as one
    broadcast multiply over three axes, which Paddle's CPU kernels run about 1.3x faster
    than the six-axis form. Exports keep the six-axis form, the arrangement the converter
    recognises as one involution.
    """
    n, channels, height, width = x.shape[0], x.shape[1], kernel.shape[2], kernel.shape[3]
    taps, cells = kernel_size * kernel_size, kernel.shape[2] * kernel.shape[3]
    patches = F.unfold(x, kernel_size, strides=stride, paddings=(kernel_size - 1) // 2)
    patches = patches.reshape([n * groups, channels // groups, taps * cells])
    prod = patches * kernel.reshape([n * groups, 1, taps * cells])
    out = prod.reshape([n * groups, channels // groups, taps, cells]).sum(axis=2)
    return out.reshape([n, channels, height, width])


class Involution(nn.Layer):
    """Involution with kernel generation (``conv1``: reduce + BN + ReLU, ``conv2``: expand)."""

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        group_channels: int = 16,
        reduction: int = 4,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.group_channels = group_channels
        self.groups = channels // group_channels
        self.conv1 = ConvUnit(channels, channels // reduction, 1)
        self.conv2 = ConvUnit(
            channels // reduction, kernel_size * kernel_size * self.groups, 1, norm=False, act=False
        )

    def generate_kernel(self, x: paddle.Tensor) -> paddle.Tensor:
        """Per-pixel kernels [N, groups*K*K, Ho, Wo] generated from ``x``."""
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride)
        return self.conv2(self.conv1(x))

    # Set by the converter while it exports (p2o.converter.pipeline): marks this layer's
    # input, kernel and output so that its lowering can become one ai.p2o::Involution node.
    boundary: Callable[[paddle.Tensor, str], paddle.Tensor] | None = None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        mark = self.boundary
        if mark is not None:
            x = mark(x, "input")
        kernel = self.generate_kernel(x)
        if mark is not None:
            kernel = mark(kernel, "kernel")
        out = involution(x, kernel, self.kernel_size, self.stride, self.groups)
        if mark is not None:
            out = mark(out, "output")
        return out


class Bottleneck(nn.Layer):
    """1x1 reduce, 7x7 involution (carrying the stride), 1x1 expand, plus the shortcut."""

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * _EXPANSION
        self.conv1 = nn.Conv2D(in_channels, width, 1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(width)
        self.conv2 = Involution(width, 7, stride)
        self.bn2 = nn.BatchNorm2D(width)
        self.conv3 = nn.Conv2D(width, out_channels, 1, bias_attr=False)
        self.bn3 = nn.BatchNorm2D(out_channels)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2D(in_channels, out_channels, 1, stride=stride, bias_attr=False),
                nn.BatchNorm2D(out_channels),
            )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class RedNet(nn.Layer):
    """RedNet classifier; ``depths`` are the bottlenecks per stage."""

    def __init__(self, depths: tuple[int, int, int, int], num_classes: int = 1000) -> None:
        super().__init__()
        # Registration order follows PaddleClas's state dict: stages, fc, then the stem.
        in_channels = _STEM_WIDTH
        stages = []
        for index, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512), strict=True)):
            blocks = []
            for block in range(depth):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(Bottleneck(in_channels, width, stride))
                in_channels = width * _EXPANSION
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(in_channels, num_classes)
        half = _STEM_WIDTH // 2
        self.stem = nn.Sequential(
            ConvUnit(3, half, 3, stride=2),
            Involution(half, 3, 1),
            nn.BatchNorm2D(half),
            nn.ReLU(),
            ConvUnit(half, _STEM_WIDTH, 3),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)

    def involutions(self) -> list[Involution]:
        """Every involution layer, stem first."""
        return [m for m in self.sublayers() if isinstance(m, Involution)]

    def residual_branch_norms(self) -> list[nn.BatchNorm2D]:
        """The last BatchNorm (``bn3``) of every bottleneck."""
        stages = (self.layer1, self.layer2, self.layer3, self.layer4)
        return [block.bn3 for stage in stages for block in stage]

    def synthetic_tweaks(self, rng: np.random.Generator) -> None:
        """Make generated kernels a centre-heavy window plus a modest, zero-sum dynamic part.

        Trained involutions produce mostly positive, centre-heavy kernels. Random ones (zero
        mean) make each involution a product of two random functions of its input, which
        compounds over depth (NaN in RedNet152). Here every kernel-generating ``conv2`` gets
        a bias equal to a Gaussian window whose taps sum to one, and a small weight whose
        taps sum to zero within each group: every generated kernel sums to exactly one
        whatever the input, so the quadratic term only reshapes the window, never scales
        the signal. A narrow window (``_SIGMA``) keeps the low-pass gain, which BatchNorm
        renormalisation would turn into growth of flat image regions over depth, small.
        """
        for inv in self.involutions():
            conv = inv.conv2.conv
            out_channels, in_channels = conv.weight.shape[:2]
            window = _gaussian_window(inv.kernel_size).ravel()
            bias = np.tile(window, inv.groups).astype("float32")
            # conv1's ReLU outputs have unit-ish scale after BatchNorm calibration.
            std = _DYNAMIC * float(window.mean()) / np.sqrt(in_channels)
            weight = rng.standard_normal((inv.groups, out_channels // inv.groups, in_channels))
            # Zero-sum over each group's taps: every generated kernel sums to exactly one.
            weight = (weight - weight.mean(axis=1, keepdims=True)) * std
            conv.weight.set_value(weight.reshape(conv.weight.shape).astype("float32"))
            conv.bias.set_value(bias)


def _gaussian_window(kernel_size: int) -> np.ndarray:
    """A KxK Gaussian window (std ``_SIGMA`` taps) whose taps sum to one."""
    r = np.arange(kernel_size) - (kernel_size - 1) / 2
    g = np.exp(-(r**2) / (2 * _SIGMA**2))
    window = np.outer(g, g)
    return window / window.sum()


def build(arch: str, num_classes: int = 1000) -> RedNet:
    """The RedNet of ``arch`` (``RedNet26`` ... ``RedNet152``)."""
    if arch not in _DEPTHS:
        raise KeyError(arch)
    return RedNet(_DEPTHS[arch], num_classes=num_classes)
