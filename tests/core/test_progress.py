from __future__ import annotations

import io

import pytest

from p2o.core import progress


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def reset(monkeypatch):
    monkeypatch.delenv("P2O_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    yield
    progress.configure(verbosity=-1)
    progress._verbosity = None


def run_steps():
    with progress.step("export"):
        with progress.step("paddle2onnx"):
            pass
    with progress.task("batches", total=2) as t:
        t.advance("bs=1")
        t.advance("bs=4")
    progress.info("done")


def test_unconfigured_library_is_silent(capsys):
    progress._verbosity = None
    run_steps()
    assert capsys.readouterr() == ("", "")


def test_plain_one_line_per_step_on_stderr_only(capsys):
    progress.configure(verbosity=0)
    run_steps()
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "p2o: export …",
        "p2o:   paddle2onnx …",
        "p2o: batches 1/2 bs=1",
        "p2o: batches 2/2 bs=4",
        "done",
    ]


def test_verbose_adds_timings(capsys):
    progress.configure(verbosity=1)
    run_steps()
    err = capsys.readouterr().err.splitlines()
    assert "p2o:   paddle2onnx done (0.0 s)" in err
    assert err[3] == "p2o: export done (0.0 s)"
    assert err[4].startswith("p2o: batches 1/2 bs=1 (")


def test_quiet_prints_nothing(capsys):
    progress.configure(verbosity=-1)
    run_steps()
    assert capsys.readouterr() == ("", "")


def test_live_on_a_terminal_leaves_one_line_per_finished_step(capsys):
    tty = Tty()
    progress.configure(verbosity=0, stream=tty)
    run_steps()
    text = tty.getvalue()
    assert "✓ export" in text and "✓ paddle2onnx" in text and "✓ batches 2/2" in text
    assert "done" in text
    assert progress._live is None  # the display stopped with the last step
    assert capsys.readouterr() == ("", "")


def test_forced_plain_mode_on_a_terminal():
    tty = Tty()
    progress.configure(verbosity=0, stream=tty)
    import os

    os.environ["P2O_PROGRESS"] = "plain"
    try:
        with progress.step("x"):
            pass
    finally:
        del os.environ["P2O_PROGRESS"]
    assert tty.getvalue() == "p2o: x …\n"


@pytest.mark.parametrize("stream", [Tty, io.StringIO])
def test_ctrl_c_unwinds_at_once_and_marks_nothing_done(stream):
    out = stream()
    progress.configure(verbosity=1, stream=out)
    with pytest.raises(KeyboardInterrupt), progress.step("outer"), progress.step("inner"):
        raise KeyboardInterrupt
    assert progress._live is None and progress._depth == 0
    assert "✓" not in out.getvalue() and "done" not in out.getvalue()


def test_step_records_its_duration():
    progress.configure(verbosity=-1)
    with progress.step("x") as s:
        pass
    assert 0.0 <= s.seconds < 1.0
