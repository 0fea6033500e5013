"""Res2Net: hierarchical receptive fields, layouts, residual norms, export with a dynamic batch."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from paddle import nn

from p2o.zoo import res2net
from p2o.zoo.registry import layout_mismatches, list_models

ARCHS = [n for n in list_models("Res2Net*") if not n.endswith("_ssld")]
BLOCKS = {"Res2Net50": 16, "Res2Net101": 33, "Res2Net200": 66}


def _positive_block(stride: int, vd: bool) -> res2net.Bottle2Neck:
    """A small block whose weights are all positive, so that ReLUs pass everything.

    8 -> 16 channels: a projection shortcut, as in the network's first stride-1 block.
    """
    paddle.seed(0)
    block = res2net.Bottle2Neck(
        "res9a", cin=8, cout=16, width=2, scales=4, stride=stride, vd=vd, first_of_net=stride == 1
    )
    for layer in block.sublayers():
        if isinstance(layer, nn.Conv2D):
            layer.weight.set_value(np.abs(layer.weight.numpy()) + 0.01)
    block.eval()
    return block


def _support(block: res2net.Bottle2Neck, size: int, pixel: int) -> list[int]:
    """Output columns (on the centre row) that change when one input pixel changes."""
    x = np.ones((1, 8, size, size), "float32")
    with paddle.no_grad():
        base = block(paddle.to_tensor(x)).numpy()
        x[0, :, pixel, pixel] += 1.0
        moved = block(paddle.to_tensor(x)).numpy()
    row = np.abs(moved - base).max(axis=1)[0]
    centre = row.shape[0] // 2
    return np.nonzero(row[centre] > 1e-6)[0].tolist()


def test_stride1_groups_are_hierarchical() -> None:
    # Group i sees i chained 3x3 convolutions: with 4 scales the reach is 3 pixels each side.
    assert _support(_positive_block(1, vd=True), size=15, pixel=7) == list(range(4, 11))


@pytest.mark.parametrize("vd", [False, True])
def test_stride2_groups_are_independent(vd: bool) -> None:
    # A downsampling block runs its groups side by side (one 3x3 conv or the 3x3 average
    # pool each), so an input pixel at 8 reaches output 4 only.
    assert _support(_positive_block(2, vd=vd), size=17, pixel=8) == [4]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_layout_and_residual_norms(arch: str) -> None:
    model = res2net.build(arch)
    assert layout_mismatches(model.state_dict(), arch) == []
    norms = model.residual_branch_norms()
    assert len(norms) == BLOCKS[arch.split("_")[0]]
    assert [n.weight.shape[0] for n in norms[-3:]] == [2048] * 3


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["Res2Net50_26w_4s", "Res2Net50_vd_26w_4s"])
def test_forward_shape(arch: str) -> None:
    model = res2net.build(arch, num_classes=10)
    model.eval()
    with paddle.no_grad():
        x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype("float32")
        assert model(paddle.to_tensor(x)).shape == [2, 10]


def test_unknown_arch() -> None:
    with pytest.raises(KeyError):
        res2net.build("Res2Net152_vd_26w_4s")
