"""ResNeSt family: PaddleClas layout, split-attention arithmetic, dynamic-batch export."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from p2o.zoo import registry, resnest
from tests.numerics import OP_TOLERANCE, assert_parity, photos


def test_residual_branch_norms_end_every_bottleneck() -> None:
    # (layout and parameter totals of every variant: tests/zoo/test_layout.py)
    model = registry.build("ResNeSt50_fast_1s1x64d")
    norms = model.residual_branch_norms()
    assert len(norms) == sum(resnest._CONFIGS["ResNeSt50_fast_1s1x64d"].depths) == 16
    assert all(n is b.conv3._batch_norm for n, b in zip(norms, model.blocks(), strict=True))


def test_synthetic_tweaks_damp_long_stages() -> None:
    cfg = resnest._Config((1, 2, 24, 1), stem_width=16, radix=2, avd_first=False)
    model = resnest.ResNeSt(cfg, num_classes=10)
    before = [n.weight.numpy().copy() for n in model.residual_branch_norms()]
    model.synthetic_tweaks(np.random.default_rng(0))
    after = [n.weight.numpy() for n in model.residual_branch_norms()]
    ratios = [float(np.mean(a / b)) for a, b in zip(after, before, strict=True)]
    np.testing.assert_allclose(ratios[:3], 1.0)  # stages of 1 and 2 blocks untouched
    np.testing.assert_allclose(ratios[3:27], 0.5, rtol=1e-6)  # sqrt(6 / 24)
    np.testing.assert_allclose(ratios[27], 1.0)


def test_unknown_arch_raises_key_error() -> None:
    with pytest.raises(KeyError):
        resnest.build("ResNeSt18")


def _randomize(layer: paddle.nn.Layer, rng: np.random.Generator) -> None:
    """Random weights and BatchNorm statistics (variances positive)."""
    for key, value in layer.state_dict().items():
        data = rng.standard_normal(value.shape).astype("float32") * 0.5
        if key.endswith("_variance"):
            data = np.abs(data) + 0.5
        value.set_value(data)


def _reference_split_attention(block: resnest.SplitAttention, x: paddle.Tensor) -> np.ndarray:
    """Split attention per the paper, in numpy, from the output of ``block.conv1``."""
    radix, card = block.radix, block.cardinality
    u = block.conv1(x).numpy()  # [N, radix * C, H, W], split-major
    n, rc = u.shape[:2]
    c = rc // radix
    splits = u.reshape(n, radix, c, *u.shape[2:])
    gap = splits.sum(1).mean((2, 3))  # [N, C]

    def grouped_1x1(v: np.ndarray, w: np.ndarray, groups: int) -> np.ndarray:
        vin = v.reshape(n, groups, -1)
        wg = w[:, :, 0, 0].reshape(groups, -1, w.shape[1])
        return np.einsum("ngi,goi->ngo", vin, wg).reshape(n, -1)

    bn = block.conv2._batch_norm
    z = grouped_1x1(gap, block.conv2._conv.weight.numpy(), card)
    z = (z - bn._mean.numpy()) / np.sqrt(bn._variance.numpy() + bn._epsilon)
    z = np.maximum(z * bn.weight.numpy() + bn.bias.numpy(), 0.0)
    logits = grouped_1x1(z, block.conv3.weight.numpy(), card) + block.conv3.bias.numpy()
    if radix == 1:
        att = (1.0 / (1.0 + np.exp(-logits))).reshape(n, 1, c)
    else:
        g = logits.reshape(n, card, radix, -1)  # per group: radix logits per channel
        e = np.exp(g - g.max(2, keepdims=True))
        att = (e / e.sum(2, keepdims=True)).transpose(0, 2, 1, 3).reshape(n, radix, c)
    return (splits * att[..., None, None]).sum(1)


@pytest.mark.parametrize(("radix", "card"), [(1, 1), (2, 1), (2, 2), (4, 2)])
def test_split_attention_matches_numpy_reference(radix: int, card: int) -> None:
    rng = np.random.default_rng(radix * 10 + card)
    block = resnest.SplitAttention(channels=16, radix=radix, cardinality=card)
    _randomize(block, rng)
    block.eval()
    x = paddle.to_tensor(rng.standard_normal((2, 16, 5, 5)).astype("float32"))
    with paddle.no_grad():
        ours = block(x).numpy()
        ref = _reference_split_attention(block, x)
    assert_parity(ours, ref, OP_TOLERANCE)


def test_radix_weights_sum_to_one() -> None:
    """With identical splits, the softmax-weighted sum returns that split unchanged."""
    rng = np.random.default_rng(0)
    block = resnest.SplitAttention(channels=8, radix=2)
    _randomize(block, rng)
    conv = block.conv1._conv.weight.numpy()
    bn = block.conv1._batch_norm
    conv[8:] = conv[:8]  # second split's filters = first split's
    block.conv1._conv.weight.set_value(conv)
    for p in (bn.weight, bn.bias, bn._mean, bn._variance):
        v = p.numpy()
        v[8:] = v[:8]
        p.set_value(v)
    block.eval()
    half = rng.standard_normal((1, 4, 6, 6)).astype("float32")
    x = paddle.to_tensor(np.concatenate([half, half], axis=1))  # the 2 groups see the same
    with paddle.no_grad():
        out = block(x).numpy()
        first_split = block.conv1(x).numpy()[:, :8]
    assert_parity(out, first_split, OP_TOLERANCE)


@pytest.mark.slow
def test_forward_shape_and_avd_first_downsampling() -> None:
    model = registry.build("ResNeSt50_fast_1s1x64d", num_classes=7)
    model.eval()
    with paddle.no_grad():
        out = model(paddle.to_tensor(photos(2)))
    assert out.shape == [2, 7]
    first = model.layer2.layer2_bottleneck_0
    assert isinstance(first.pool_first, paddle.nn.AvgPool2D)
    assert isinstance(first.pool_last, paddle.nn.Identity)
    r50 = registry.build("ResNeSt50").layer2.layer2_bottleneck_0
    assert isinstance(r50.pool_first, paddle.nn.Identity)
    assert isinstance(r50.pool_last, paddle.nn.AvgPool2D)
