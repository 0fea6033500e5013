"""ReXNet: layouts, the channel schedule, the partial-channel residual, static export."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from p2o.zoo import rexnet
from p2o.zoo.registry import layout_mismatches, list_models
from tests.numerics import assert_parity


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models("ReXNet*"))
def test_layout_matches_paddleclas(name: str) -> None:
    assert layout_mismatches(rexnet.build(name).state_dict(), name) == []


def test_unknown_arch() -> None:
    with pytest.raises(KeyError):
        rexnet.build("ReXNet_0_5")


def test_channel_schedule_is_linear_and_rounded() -> None:
    outs = [c for _, c in rexnet._block_channels(1.0)]
    assert outs == [16, 27, 38, 50, 61, 72, 84, 95, 106, 117, 128, 140, 151, 162, 174, 185]
    assert rexnet._block_channels(3.0)[0] == (96, 48)
    assert rexnet._block_channels(3.0)[-1][1] == 554


def test_partial_residual_adds_into_leading_channels() -> None:
    paddle.seed(0)
    block = rexnet.LinearBottleneck(8, 12, expansion=6, stride=1, use_se=True)
    block.eval()
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 8, 7, 7)), "float32")
    expected = block.out(x).numpy()
    expected[:, :8] += x.numpy()
    assert_parity(block(x).numpy(), expected, 1e-6)  # the same kernels, one addition apart


def test_residual_branch_norms_close_shortcut_blocks() -> None:
    model = rexnet.build("ReXNet_1_0")
    blocks = [b for b in model.features if isinstance(b, rexnet.LinearBottleneck)]
    assert len(blocks) == 16
    norms = model.residual_branch_norms()
    assert len(norms) == 11  # every stride-1 block except the first (it narrows 32 → 16)
    assert all(isinstance(n, paddle.nn.BatchNorm2D) for n in norms)
    assert norms[0] is blocks[2].out[7] and norms[-1] is blocks[-1].out[8]
