"""Temporary folders go whole, also when a signal lands while they are being removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from p2o.core.errors import Terminated
from p2o.core.files import remove_tree, temporary_folder


def _cut_short(monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """``shutil.rmtree`` removes one file, then raises as a signal's handler would, ``times``
    times over; the calls it saw are returned."""
    real = shutil.rmtree
    calls: list[str] = []

    def rmtree(path, *args, **kwargs):
        calls.append(str(path))
        if len(calls) <= times:
            files = sorted(p for p in Path(path).rglob("*") if p.is_file())
            if files:
                files[0].unlink()
            raise Terminated("signal 15")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    return calls


def _tree(root: Path) -> None:
    for i in range(3):
        (root / f"d{i}").mkdir(parents=True)
        (root / f"d{i}" / "f").write_text("x")


def test_a_signal_during_removal_is_raised_once_the_folder_is_gone(tmp_path, monkeypatch):
    _tree(tmp_path / "t")
    calls = _cut_short(monkeypatch, times=2)  # a second signal while it finishes, too
    with pytest.raises(Terminated):
        remove_tree(tmp_path / "t")
    assert not (tmp_path / "t").exists() and len(calls) == 3


def test_temporary_folder_goes_whole(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    _cut_short(monkeypatch, times=1)
    with pytest.raises(Terminated), temporary_folder("p2o-test-") as tmp:
        _tree(Path(tmp))
    assert list(tmp_path.iterdir()) == []
    with temporary_folder("p2o-test-") as tmp:  # no signal: nothing raised
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith("p2o-test-")
    assert list(tmp_path.iterdir()) == []
