"""PaddleClas's inference.yml → the preprocessing p2o feeds a model with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from p2o.core.errors import UsageError
from p2o.zoo import inputs, paddleclas_config
from p2o.zoo.registry import Preprocess

# what PaddleClas 2.6's export writes (scale evaluated, label names listed)
PADDLECLAS_26 = """\
PreProcess:
  transform_ops:
  - ResizeImage:
      resize_short: 320
  - CropImage:
      size: 288
  - NormalizeImage:
      channel_num: 3
      mean:
      - 0.485
      - 0.456
      - 0.406
      order: ''
      scale: 0.00392156862745098
      std:
      - 0.229
      - 0.224
      - 0.225
  - ToCHWImage: null
PostProcess:
  Topk:
    topk: 5
    label_list:
    - tench, Tinca tinca
    - goldfish, Carassius auratus
"""


def _load(tmp_path: Path, text: str) -> Preprocess:
    p = tmp_path / "inference.yml"
    p.write_text(text)
    return paddleclas_config.load(p)


def test_paddleclas_export(tmp_path: Path):
    pp = _load(tmp_path, PADDLECLAS_26)
    assert (pp.resize_short, pp.crop, pp.resize, pp.input_shape) == (320, 288, None, (3, 288, 288))
    assert pp.mean == (0.485, 0.456, 0.406) and pp.std == (0.229, 0.224, 0.225)
    assert pp.scale == pytest.approx(1 / 255) and pp.topk == 5
    assert pp.labels == ("tench, Tinca tinca", "goldfish, Carassius auratus")
    assert pp.source == "inference.yml" and "crop 288x288" in pp.describe()


def test_training_style_values_and_other_forms(tmp_path: Path):
    pp = _load(
        tmp_path,
        """\
PreProcess:
  transform_ops:
  - DecodeImage: {to_rgb: true, channel_first: false}
  - ResizeImage: {size: [320, 240]}
  - CropImage: {size: [300, 200]}
  - NormalizeImage: {scale: 1.0/255.0, mean: [0, 0, 0], std: [1, 1, 1], order: hwc,
                     channel_num: 4}
  - ToCHWImage:
PostProcess: {name: Topk, topk: 1}
""",
    )
    assert pp.resize == (320, 240) and pp.resize_short is None
    assert pp.crop == (300, 200) and pp.input_shape == (4, 200, 300)
    assert pp.scale == pytest.approx(1 / 255) and pp.topk == 1 and pp.labels == ()
    img = np.full((480, 640, 3), 255, np.uint8)
    x = inputs.preprocess(img, pp)
    assert x.shape == (4, 200, 300)
    np.testing.assert_allclose(x[:3], 1.0, rtol=1e-6)  # (255/255 - 0) / 1
    assert not x[3].any()  # PaddleClas's padding channel


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: [", "not a YAML file"),
        ("Global: {}", "no PreProcess section"),
        ("PreProcess: {transform_ops: []}", "no transform_ops"),
        (
            "PreProcess: {transform_ops: [{ResizeImage: {resize_short: 256}}, "
            "{GridMask: {}}, ToCHWImage]}",
            "transform 'GridMask' is not one p2o can reproduce",
        ),
        (
            "PreProcess: {transform_ops: [{CropImage: {size: 224}}]}",
            "no ToCHWImage",
        ),
        (
            "PreProcess: {transform_ops: [{ResizeImage: {resize_short: 256}}, ToCHWImage]}",
            "no fixed size",
        ),
        (
            "PreProcess: {transform_ops: [{CropImage: {size: 0}}, ToCHWImage]}",
            "CropImage size must be a positive integer",
        ),
        (
            "PreProcess: {transform_ops: [{CropImage: {size: 224}}, "
            "{NormalizeImage: {std: [1, 0, 1]}}, ToCHWImage]}",
            "std has a zero",
        ),
        (
            "PreProcess: {transform_ops: [{CropImage: {size: 224}}, "
            "{NormalizeImage: {scale: one}}, ToCHWImage]}",
            "scale must be a number",
        ),
    ],
)
def test_what_p2o_cannot_reproduce_is_named(tmp_path: Path, text: str, why: str):
    with pytest.raises(UsageError, match=rf"^inference.yml: .*{why}"):
        _load(tmp_path, text)


def test_default_preprocessing_is_unchanged_and_sizes_follow():
    pp = Preprocess()
    assert (pp.input_shape, pp.source) == ((3, 224, 224), "ImageNet default")
    assert Preprocess.imagenet(224) == pp
    assert Preprocess.imagenet(288).resize_short == 329 and Preprocess.imagenet(288).crop == 288
    assert inputs.sample_batch(2, Preprocess.imagenet(160)).shape == (2, 3, 160, 160)
    np.testing.assert_array_equal(inputs.sample_batch(2), inputs.sample_batch(2, pp))
