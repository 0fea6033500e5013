"""A release model is exported once: a second export of the same network copies the first."""

from __future__ import annotations

import paddle
import pytest

from p2o.converter import export, source


def _net(seed: int) -> paddle.nn.Layer:
    paddle.seed(seed)
    return paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.Flatten())


def _bytes(files: source.PaddleModelFiles) -> tuple[bytes, bytes]:
    return files.model_file.read_bytes(), files.params_file.read_bytes()


@pytest.fixture
def count_saves(monkeypatch):
    calls = []
    save = paddle.jit.save
    monkeypatch.setattr(paddle.jit, "save", lambda *a, **k: (calls.append(1), save(*a, **k)))
    return calls


def test_the_same_network_is_traced_once_and_copied(tmp_path, count_saves) -> None:
    fresh = export.export_static(_net(0), tmp_path / "fresh", (3, 8, 8))
    with export.reuse_exports(tmp_path / "exports"):
        first = export.export_static(_net(0), tmp_path / "a", (3, 8, 8))
        again = export.export_static(_net(0), tmp_path / "b", (3, 8, 8))  # another object
    assert len(count_saves) == 2  # fresh + first: the repeat copied
    assert _bytes(again) == _bytes(first)
    assert _bytes(again)[1] == _bytes(fresh)[1]  # the same weights (program: other param names)
    assert not (tmp_path / "exports").exists()  # removed with the block


def test_other_weights_shape_or_batch_export_again(tmp_path, count_saves) -> None:
    with export.reuse_exports(tmp_path / "exports"):
        base = export.export_static(_net(0), tmp_path / "a", (3, 8, 8))
        other = export.export_static(_net(1), tmp_path / "b", (3, 8, 8))
        export.export_static(_net(0), tmp_path / "c", (3, 9, 9))
        export.export_static(_net(0), tmp_path / "d", (3, 8, 8), batch=2)
    assert len(count_saves) == 4
    assert _bytes(other)[1] != _bytes(base)[1]


def test_a_network_marked_for_the_converter_is_not_reused(tmp_path, count_saves) -> None:
    net = _net(0)
    with export.reuse_exports(tmp_path / "exports"):
        export.export_static(net, tmp_path / "a", (3, 8, 8))
        net[0].boundary = lambda x, role: x  # what the converter sets on an involution
        export.export_static(net, tmp_path / "b", (3, 8, 8))
    assert len(count_saves) == 2


def test_outside_the_block_nothing_is_kept(tmp_path, count_saves) -> None:
    with export.reuse_exports(tmp_path / "exports"):
        export.export_static(_net(0), tmp_path / "a", (3, 8, 8))
    export.export_static(_net(0), tmp_path / "b", (3, 8, 8))
    assert len(count_saves) == 2
