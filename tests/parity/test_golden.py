"""Golden files: what they store, and that one is only compared with its own ONNX file."""

from __future__ import annotations

import numpy as np
import pytest

from p2o.core.errors import UsageError
from p2o.parity.golden import Golden, onnx_identity
from tests.test_no_paddle import _tiny_onnx


def _golden(inputs: dict[int, np.ndarray], meta: dict | None = None) -> Golden:
    outputs = {b: {"y": x.sum(axis=(2, 3))} for b, x in inputs.items()}
    return Golden(inputs, outputs, meta or {"model": "m"})


def test_shared_inputs_are_stored_once_and_read_back_per_batch(tmp_path):
    x = np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32)
    shared = _golden({1: x, 4: x.copy(), 8: x.copy()}).save(tmp_path / "shared.npz")
    apart = _golden({1: x, 4: x[::-1].copy()}).save(tmp_path / "apart.npz")
    with np.load(shared) as data:
        assert [k for k in data.files if k.startswith("input")] == ["input@all"]
    with np.load(apart) as data:
        assert sorted(k for k in data.files if k.startswith("input")) == ["input@1", "input@4"]
    for path, batches in ((shared, [1, 4, 8]), (apart, [1, 4])):
        g = Golden.load(path)
        assert g.batches == batches and set(g.outputs) == set(batches)
    assert np.array_equal(Golden.load(apart).inputs[4], x[::-1])
    assert np.array_equal(Golden.load(shared).inputs[8], x)


def test_check_onnx_accepts_its_own_file_only(tmp_path):
    mine, other = _tiny_onnx(tmp_path / "a.onnx", 0), _tiny_onnx(tmp_path / "b.onnx", 1)
    identity = onnx_identity(mine)
    assert identity["onnx_file"] == "a.onnx" and identity["precision"] == "fp32"
    x = np.zeros((1, 3, 8, 8), np.float32)
    path = _golden({1: x}, {"model": "tiny", **identity}).save(tmp_path / "g.npz")
    g = Golden.load(path)
    assert g.identity["onnx_sha256"] == identity["onnx_sha256"]
    assert g.check_onnx(mine) is None
    with pytest.raises(UsageError, match=r"saved for another ONNX file \(a\.onnx of tiny"):
        g.check_onnx(other)
    unnamed = Golden.load(_golden({1: x}).save(tmp_path / "unnamed.npz"))
    assert "names no ONNX file" in (unnamed.check_onnx(other) or "")
