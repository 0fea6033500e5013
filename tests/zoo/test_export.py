"""Every family exports with a dynamic batch size (``paddle.jit.save``, PIR) and the loaded
program computes what the network computes, at batch 2 and batch 1."""

from __future__ import annotations

from pathlib import Path

import paddle
import pytest

from p2o.zoo import create_model
from tests.numerics import assert_parity, photos

# one model per family; trained-like synthetic weights (a naive RedNet gives NaN, a naive
# ReXNet all-zero logits, a naive Res2Net logits that differ between batch 1 and 2 by 0.06)
MODELS = [
    "RedNet26",
    "ReXNet_1_0",
    "RegNetX_200MF",
    "ResNeSt50_fast_1s1x64d",
    "Res2Net50_vd_26w_4s",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_exports_with_dynamic_batch(name: str, tmp_path: Path) -> None:
    model = create_model(name)
    spec = [paddle.static.InputSpec([None, 3, 224, 224], "float32", "x")]
    path = str(tmp_path / name)
    paddle.jit.save(model, path, input_spec=spec)
    if name.startswith("ReXNet"):  # its channel padding is written without set_value
        assert "set_value" not in (tmp_path / f"{name}.json").read_text()
    loaded = paddle.jit.load(path)
    x = paddle.to_tensor(photos(2))
    with paddle.no_grad():
        expected = model(x).numpy()
        assert_parity(loaded(x).numpy(), expected)
        assert_parity(loaded(x[:1]).numpy(), expected[:1])
