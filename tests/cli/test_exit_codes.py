"""Exit codes hold everywhere: a crash is never 0 or 1, and SIGTERM unwinds like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from p2o import cli
from p2o.cli import main
from tests.support.signals import default_signals


def _crash(args):
    raise RuntimeError("an unexpected bug\nsecond line")


def test_an_unexpected_exception_is_an_internal_error_exit_3(monkeypatch, capsys):
    monkeypatch.delenv("P2O_DEBUG", raising=False)
    monkeypatch.setattr("p2o.cli.runtimes.run", _crash)
    assert main(["runtimes"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("p2o: internal error: RuntimeError")
    assert "P2O_DEBUG=1" in err[0] and "Traceback" not in err[0]


def test_p2o_debug_shows_the_traceback_of_an_internal_error(monkeypatch, capsys):
    monkeypatch.setenv("P2O_DEBUG", "1")
    monkeypatch.setattr("p2o.cli.runtimes.run", _crash)
    assert main(["runtimes"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_an_import_error_of_p2o_itself_is_internal(monkeypatch, capsys):
    def broken(args):
        raise ImportError("cannot import name 'nothing' from 'p2o.core.results'")

    monkeypatch.setattr("p2o.cli.runtimes.run", broken)
    assert main(["runtimes"]) == 3
    assert "internal error" in capsys.readouterr().err


def test_the_codes_are_documented():
    doc = cli.__doc__ or ""
    assert "3 an internal error" in doc and "143" in doc and "130" in doc
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "3 internal error" in readme


@pytest.mark.slow
def test_sigterm_during_convert_exits_143_and_leaves_nothing(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "TMPDIR": str(tmp), "P2O_NO_CACHE": "1"}
    env.pop("P2O_DEBUG", None)
    cmd = [sys.executable, "-m", "p2o.cli", "convert", "--model", "RegNetX_200MF", "-o", str(out)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=default_signals
    )
    deadline = time.time() + 300
    while not list(tmp.glob("p2o-paddle2onnx-*")):  # exported; paddle2onnx running
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert b"terminated" in err
    assert list(tmp.iterdir()) == []  # p2o-convert-*, p2o-paddle2onnx-* removed
    assert not (out / "model.onnx").exists() and not list(out.glob(".*.part"))
