from __future__ import annotations

import numpy as np
import pytest

from p2o.core.errors import UsageError
from p2o.zoo import inputs


def test_sample_batch_is_preprocessed_photos():
    b = inputs.sample_batch()
    assert b.shape == (len(inputs.SAMPLE_IMAGES), 3, 224, 224) and b.dtype == np.float32
    # ImageNet-normalised natural images: roughly zero-centred, unit spread, not noise
    assert -1.0 < b.mean() < 1.0 and 0.5 < b.std() < 2.0
    assert len({float(x) for x in b.reshape(len(b), -1).mean(axis=1)}) == len(b)


def test_preprocess_matches_definition():
    img = np.zeros((300, 600, 3), np.uint8)
    img[..., 0] = 255
    out = inputs.preprocess(img)
    assert out.shape == (3, 224, 224)
    np.testing.assert_allclose(out[0], (1.0 - 0.485) / 0.229, rtol=1e-5)
    np.testing.assert_allclose(out[1], (0.0 - 0.456) / 0.224, rtol=1e-5)


def test_resize_bilinear_keeps_constant_and_interpolates():
    ramp = np.tile(np.arange(4, dtype=np.float32)[None, :, None], (2, 1, 1))
    up = inputs.resize_bilinear(ramp, 2, 8)[0, :, 0]
    assert up[0] == 0 and up[-1] == 3 and np.all(np.diff(up) >= 0)


def test_folder_batch(tmp_path):
    import skimage.io

    skimage.io.imsave(tmp_path / "b.png", inputs.skimage_photo("coffee"))
    skimage.io.imsave(tmp_path / "a.png", inputs.skimage_photo("chelsea"))
    (tmp_path / "notes.txt").write_text("ignored")
    batch = inputs.folder_batch(tmp_path)
    assert batch.shape == (2, 3, 224, 224)
    np.testing.assert_allclose(
        batch[0], inputs.preprocess(inputs.skimage_photo("chelsea")), atol=1e-6
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images"):
        inputs.folder_batch(tmp_path / "empty")
    with pytest.raises(UsageError, match="not found"):
        inputs.folder_batch(tmp_path / "missing")


def test_random_batch_is_seeded():
    a, b, c = inputs.random_batch(2, 1), inputs.random_batch(2, 1), inputs.random_batch(2, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
