"""Synthetic weights behave like trained ones: one network of each family, end to end."""

from __future__ import annotations

import numpy as np
import pytest

from p2o.converter.export import export_static
from p2o.runtimes.paddle import PaddlePlainRunner, PaddleRunner
from p2o.zoo import create_model
from p2o.zoo.inputs import sample_batch
from p2o.zoo.weights import _classifier
from tests.families import ONE_PER_FAMILY

REL_TARGET = 2e-5


@pytest.fixture(scope="module")
def images():
    return sample_batch()


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_trained_like_and_well_conditioned(name, images, tmp_path):
    net = create_model(name)
    files = export_static(net, tmp_path)
    onednn = next(iter(PaddleRunner(files.model_file.parent).run(images).values()))
    plain = next(iter(PaddlePlainRunner(files.model_file.parent).run(images).values()))
    assert np.isfinite(plain).all()
    std = float(plain.std(axis=1).mean())
    assert 1.0 <= std <= 10.0, std
    assert len(set(plain.argmax(axis=1).tolist())) >= 3  # no constant or dead output
    rel = float(np.abs(onednn - plain).max() / np.abs(plain).max())
    assert rel <= REL_TARGET, rel
    w = _classifier(net).weight.numpy()
    assert np.abs(w.mean(axis=0 if w.ndim == 2 else 1)).max() < 1e-6  # centred classifier


def test_deterministic_from_seed(monkeypatch):
    import p2o.zoo

    monkeypatch.setenv("P2O_NO_CACHE", "1")  # synthesize each time: no disk or memory cache
    monkeypatch.setattr(p2o.zoo, "_SYNTHETIC", {})
    a = create_model("RegNetX_200MF", seed=5).state_dict()
    p2o.zoo._SYNTHETIC.clear()
    b = create_model("RegNetX_200MF", seed=5).state_dict()
    p2o.zoo._SYNTHETIC.clear()
    c = create_model("RegNetX_200MF", seed=6).state_dict()
    key = "s1_b1.conv1._conv.weight"
    np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    assert not np.array_equal(a[key].numpy(), c[key].numpy())


def test_batchnorm_statistics_follow_the_data():
    """Calibrated statistics equal the moments of what reaches each BatchNorm."""
    import paddle

    net = create_model("RegNetX_200MF")
    bn = net.conv._batch_norm
    seen = []
    h = net.conv._conv.register_forward_post_hook(lambda layer, i, o: seen.append(o.numpy()))
    from p2o.zoo.inputs import calibration_batch

    with paddle.no_grad():
        net(paddle.to_tensor(calibration_batch()))
    h.remove()
    x = seen[0].astype(np.float64)
    np.testing.assert_allclose(bn._mean.numpy(), x.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    var = x.var(axis=(0, 2, 3))
    got = bn._variance.numpy()
    assert np.all(got >= var * (1 - 1e-4) - 1e-6)  # floored, never below the data
    assert np.median(got / np.maximum(var, 1e-12)) == pytest.approx(1.0, rel=1e-3)
