"""RedNet: the involution against a naive reference, layouts, export with a dynamic batch."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from p2o.zoo import rednet
from p2o.zoo.registry import layout_mismatches, list_models
from tests.numerics import OP_TOLERANCE, assert_parity


def _naive_involution(
    x: np.ndarray, kernel: np.ndarray, k: int, stride: int, groups: int
) -> np.ndarray:
    n, c = x.shape[:2]
    pad = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = kernel.shape[2:]
    out = np.zeros((n, c, ho, wo), dtype=np.float64)
    per_group = c // groups
    for b in range(n):
        for ch in range(c):
            g = ch // per_group
            for i in range(ho):
                for j in range(wo):
                    for a in range(k):
                        for d in range(k):
                            tap = kernel[b, g * k * k + a * k + d, i, j]
                            out[b, ch, i, j] += tap * xp[b, ch, i * stride + a, j * stride + d]
    return out


@pytest.mark.parametrize("form", ["_involution_eager", "_involution_export"])
@pytest.mark.parametrize(("k", "stride", "size"), [(3, 1, 5), (7, 1, 6), (7, 2, 8), (3, 2, 7)])
def test_involution_matches_naive_reference(form: str, k: int, stride: int, size: int) -> None:
    """Both forms (eager runs and exports) compute the same sum as the definition."""
    rng = np.random.default_rng(0)
    groups, channels = 2, 6
    ho = (size + 2 * ((k - 1) // 2) - k) // stride + 1
    x = rng.standard_normal((2, channels, size, size)).astype("float32")
    kernel = rng.standard_normal((2, groups * k * k, ho, ho)).astype("float32")
    ours = getattr(rednet, form)(paddle.to_tensor(x), paddle.to_tensor(kernel), k, stride, groups)
    assert_parity(ours.numpy(), _naive_involution(x, kernel, k, stride, groups), OP_TOLERANCE)


def test_involution_layer_shapes_and_attributes() -> None:
    layer = rednet.Involution(32, 7, stride=2)
    assert (layer.kernel_size, layer.stride, layer.groups, layer.group_channels) == (7, 2, 2, 16)
    layer.eval()
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 32, 14, 14)), "float32")
    assert layer.generate_kernel(x).shape == [1, 2 * 49, 7, 7]
    assert layer(x).shape == [1, 32, 7, 7]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models("RedNet*"))
def test_layout_matches_paddleclas(name: str) -> None:
    assert layout_mismatches(rednet.build(name).state_dict(), name) == []


def test_unknown_arch() -> None:
    with pytest.raises(KeyError):
        rednet.build("RedNet18")


def test_synthetic_tweak_gives_averaging_kernels() -> None:
    model = rednet.build("RedNet26")
    model.eval()
    rng = np.random.default_rng(0)
    model.synthetic_tweaks(rng)
    for inv in model.involutions():
        taps = inv.conv2.conv.bias.numpy().reshape(inv.groups, -1)
        np.testing.assert_allclose(taps.sum(axis=1), 1.0, rtol=1e-5)
        assert (taps > 0).all()
        # the dynamic part redistributes the window without changing its sum
        weight = inv.conv2.conv.weight.numpy().reshape(inv.groups, taps.shape[1], -1)
        np.testing.assert_allclose(weight.sum(axis=1), 0.0, atol=1e-6)
        x = paddle.to_tensor(
            rng.standard_normal((1, inv.conv1.conv.weight.shape[1], 8, 8)), "float32"
        )
        kernel = inv.generate_kernel(x).numpy().reshape(inv.groups, taps.shape[1], -1)
        np.testing.assert_allclose(kernel.sum(axis=1), 1.0, rtol=1e-4)
