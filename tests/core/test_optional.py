"""p2o.core.optional: which extra brings a missing package, said in one line."""

from __future__ import annotations

import pytest

from p2o.core import optional


def test_a_missing_package_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optional, "installed", lambda module: False)
    line = optional.missing_from(ModuleNotFoundError("No module named 'paddle'", name="paddle"))
    assert line is not None and "pip install 'p2o-proof[paddle]'" in line and "\n" not in line
    ov = optional.missing_from(ModuleNotFoundError("x", name="openvino.runtime"))
    assert ov is not None and "p2o-proof[cpu]" in ov
    assert optional.missing_from(ModuleNotFoundError("x", name="yaml")) is None  # not ours


def test_an_installed_but_broken_package_is_not_called_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(optional, "installed", lambda module: True)
    exc = ImportError("libpaddle.so: cannot open shared object file", name="paddle.base")
    line = optional.missing_from(exc)
    assert line is not None and "installed but failed to import" in line and "libpaddle" in line


def test_installed_asks_without_importing() -> None:
    import sys

    assert optional.installed("json") and not optional.installed("no_such_module_p2o")
    had = "openvino" in sys.modules
    optional.installed("openvino")
    assert ("openvino" in sys.modules) == had
