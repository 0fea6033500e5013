"""ResNeSt: split-attention networks (Zhang et al., 2020, arXiv 2004.08955).

A ResNet-D style network (deep 3-conv stem, average-pool downsampling in the shortcut)
whose bottleneck 3x3 convolution is replaced by a *split-attention* block: the convolution
produces ``radix`` feature-map splits, their sum is globally pooled, two 1x1 convolutions
(the second one with bias) turn it into one attention vector per split, normalised across the
splits with a softmax (a sigmoid when ``radix == 1``), and the splits are summed weighted by
their attention. Strided blocks downsample with a 3x3 average pool ("avd") after the
split-attention convolution, or before it in the ``_fast`` variant.

State-dict names follow PaddleClas (``stem.conv1._conv.weight``, ``layer2.layer2_bottleneck_0
.conv2.conv3.bias``, ``out.weight`` …) so its published ``.pdparams`` load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from p2o.zoo.layers import ConvBN

__all__ = ["ResNeSt", "build"]

# Paddle's AvgPool2D leaves the zero padding out of the mean (``exclusive=True``), which
# is what the published Paddle weights were evaluated with. The 3x3 "avd" pools pad by 1.
_AVD_EXCLUSIVE = True


@dataclass(frozen=True)
class _Config:
    depths: tuple[int, int, int, int]
    stem_width: int
    radix: int
    avd_first: bool
    cardinality: int = 1
    bottleneck_width: int = 64


_CONFIGS: dict[str, _Config] = {
    "ResNeSt50_fast_1s1x64d": _Config((3, 4, 6, 3), stem_width=32, radix=1, avd_first=True),
    "ResNeSt50": _Config((3, 4, 6, 3), stem_width=32, radix=2, avd_first=False),
    "ResNeSt101": _Config((3, 4, 23, 3), stem_width=64, radix=2, avd_first=False),
    "ResNeSt200": _Config((3, 24, 36, 3), stem_width=64, radix=2, avd_first=False),
    "ResNeSt269": _Config((3, 30, 48, 8), stem_width=64, radix=2, avd_first=False),
}

_STAGE_PLANES = (64, 128, 256, 512)
# Synthetic weights: stages longer than this many blocks get their branch gammas damped.
_BRANCH_DAMP_BLOCKS = 6
_EXPANSION = 4


class SplitAttention(nn.Layer):
    """Split-attention 3x3 convolution with ``radix`` splits per cardinal group.

    ``conv1`` makes ``channels * radix`` maps; ``conv2`` (ConvBN, ReLU) squeezes the pooled
    split sum to ``max(channels * radix // 4, 32)``; ``conv3`` (with bias) expands it back to
    one logit per split channel ("r-softmax" across the radix axis).
    """

    def __init__(self, channels: int, radix: int, cardinality: int = 1) -> None:
        super().__init__()
        self.radix = radix
        self.cardinality = cardinality
        self.channels = channels
        inter = max(channels * radix // 4, 32)
        self.conv1 = ConvBN(channels, channels * radix, 3, groups=cardinality * radix)
        self.conv2 = ConvBN(channels, inter, 1, groups=cardinality)
        self.conv3 = nn.Conv2D(inter, channels * radix, 1, groups=cardinality)
        self.pool = nn.AdaptiveAvgPool2D(1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv1(x)
        if self.radix == 1:
            att = self.conv3(self.conv2(self.pool(x)))
            return x * F.sigmoid(att)
        splits = paddle.split(x, self.radix, axis=1)
        att = self.conv3(self.conv2(self.pool(paddle.add_n(splits))))
        # Channels are laid out (group, split, c); softmax over the split axis, then put
        # the split axis first so that chunk r of the attention matches split r.
        # (explicit sizes, no -1: with a dynamic batch, paddle2onnx can only split a tensor
        # whose channel dimension is known)
        per_group = self.channels // self.cardinality
        att = paddle.reshape(att, [0, self.cardinality, self.radix, per_group])
        att = F.softmax(paddle.transpose(att, [0, 2, 1, 3]), axis=1)
        att = paddle.reshape(att, [0, self.channels * self.radix, 1, 1])
        weights = paddle.split(att, self.radix, axis=1)
        # (no zip: dygraph-to-static rejects zip(..., strict=True), which ruff asks for)
        return paddle.add_n([splits[r] * weights[r] for r in range(self.radix)])


class Bottleneck(nn.Layer):
    """1x1 reduce → split-attention 3x3 → 1x1 expand, with an avg-down shortcut."""

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int,
        cfg: _Config,
        avd: bool,
    ) -> None:
        super().__init__()
        width = planes * cfg.bottleneck_width // 64 * cfg.cardinality
        out_ch = planes * _EXPANSION

        def avd_pool() -> nn.Layer:
            if not avd:
                return nn.Identity()
            return nn.AvgPool2D(3, stride=stride, padding=1, exclusive=_AVD_EXCLUSIVE)

        self.conv1 = ConvBN(in_ch, width, 1)
        self.pool_first = avd_pool() if cfg.avd_first else nn.Identity()
        self.conv2 = SplitAttention(width, cfg.radix, cfg.cardinality)
        self.pool_last = nn.Identity() if cfg.avd_first else avd_pool()
        self.conv3 = ConvBN(width, out_ch, 1, relu=False)
        self.has_projection = stride != 1 or in_ch != out_ch
        if self.has_projection:
            self.short_pool = nn.AvgPool2D(stride, stride=stride) if stride != 1 else nn.Identity()
            self.conv4 = nn.Conv2D(in_ch, out_ch, 1, bias_attr=False)
            self._batch_norm = nn.BatchNorm2D(out_ch)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.conv1(x)
        y = self.pool_last(self.conv2(self.pool_first(y)))
        y = self.conv3(y)
        if self.has_projection:
            x = self._batch_norm(self.conv4(self.short_pool(x)))
        return F.relu(x + y)


class Stage(nn.Layer):
    """``blocks`` bottlenecks named ``{name}_bottleneck_{i}``; the first one strides."""

    def __init__(
        self, name: str, in_ch: int, planes: int, blocks: int, stride: int, cfg: _Config
    ) -> None:
        super().__init__()
        for i in range(blocks):
            # avd pools only where the stage downsamples; the 3x3 conv itself never strides.
            first = i == 0
            block = Bottleneck(in_ch, planes, stride if first else 1, cfg, first and stride > 1)
            self.add_sublayer(f"{name}_bottleneck_{i}", block)
            in_ch = planes * _EXPANSION

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        for block in self.children():
            x = block(x)
        return x


class DeepStem(nn.Layer):
    """Three 3x3 ConvBN-ReLU (the first strided), widths ``w, w, 2w``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, width, 3, stride=2)
        self.conv2 = ConvBN(width, width, 3)
        self.conv3 = ConvBN(width, width * 2, 3)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


class ResNeSt(nn.Layer):
    """ResNeSt classifier: deep stem, max pool, four stages, global average pool, ``out``."""

    def __init__(self, cfg: _Config, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = DeepStem(cfg.stem_width)
        self.max_pool = nn.MaxPool2D(3, stride=2, padding=1)
        widths = [cfg.stem_width * 2] + [p * _EXPANSION for p in _STAGE_PLANES]
        d = cfg.depths
        self.layer1 = Stage("layer1", widths[0], _STAGE_PLANES[0], d[0], 1, cfg)
        self.layer2 = Stage("layer2", widths[1], _STAGE_PLANES[1], d[1], 2, cfg)
        self.layer3 = Stage("layer3", widths[2], _STAGE_PLANES[2], d[2], 2, cfg)
        self.layer4 = Stage("layer4", widths[3], _STAGE_PLANES[3], d[3], 2, cfg)
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.out = nn.Linear(widths[4], num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.max_pool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.out(paddle.flatten(self.avg_pool(x), 1))

    def blocks(self) -> list[Bottleneck]:
        """Every bottleneck, in order."""
        return [b for b in self.sublayers() if isinstance(b, Bottleneck)]

    def residual_branch_norms(self) -> list[nn.BatchNorm2D]:
        """The BatchNorm ending each bottleneck's residual branch (``conv3._batch_norm``)."""
        return [b.conv3._batch_norm for b in self.blocks()]

    def synthetic_tweaks(self, rng: np.random.Generator) -> None:
        """Depth-aware branch damping (``rng`` is unused).

        * In a stage of ``n`` blocks the residual-branch gammas are scaled by
          ``sqrt(min(1, 6 / n))``: the branches of a long stage (48 in ResNeSt269's third)
          then add as much variance in all as ResNeSt50's six do, instead of compounding
          the growth of inputs unlike the calibration images (by x15 for a dark photograph).
        * Each class's classifier weights are centred over the 2048 pooled features. Those
          are post-ReLU: their mean is a large, nearly uniform positive vector that mostly
          changes only in scale from image to image. Random classifier columns see it, and
          in the deepest variants it decides the top-1 of every image; a trained
          classifier is nearly blind to it.
        """
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            blocks = list(stage.children())
            damp = np.float32(np.sqrt(min(1.0, _BRANCH_DAMP_BLOCKS / len(blocks))))
            for block in blocks:
                gamma = block.conv3._batch_norm.weight
                gamma.set_value(gamma.numpy() * damp)
        # the classifier is centred by p2o.zoo.weights.synthesize for every family


def build(arch: str, num_classes: int = 1000) -> ResNeSt:
    """The ResNeSt network of ``arch`` (a key of ``_CONFIGS``); KeyError when unknown."""
    if arch not in _CONFIGS:
        raise KeyError(f"unknown ResNeSt architecture {arch!r}")
    return ResNeSt(_CONFIGS[arch], num_classes=num_classes)
