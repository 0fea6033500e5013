"""One model's worker: what it keeps when paddle2onnx fails, that it stops between stages, and
what the driver says when it died."""

from __future__ import annotations

import signal

import pytest

from p2o.converter.paddle2onnx import ConversionError
from p2o.core import signals
from p2o.core.errors import Terminated
from p2o.core.results import ModelRecord, Status
from p2o.release import executor
from p2o.release.worker import PADDLE2ONNX_LOG, _log_kept, _Stage


def test_paddle2onnx_log_moves_into_the_model_folder(tmp_path):
    """The worker's $TMPDIR goes with the worker: the log the message names must not."""
    log = tmp_path / "tmp" / "p2o-paddle2onnx-x.log"
    log.parent.mkdir()
    log.write_text("whole log\n")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ConversionError) as info, _log_kept(work):
        raise ConversionError(f"paddle2onnx exited with status 1 (...); full log: {log}", log)
    assert str(info.value).endswith(f"full log: {PADDLE2ONNX_LOG} in the model's folder")
    assert not log.exists() and (work / PADDLE2ONNX_LOG).read_text() == "whole log\n"
    assert info.value.log == work / PADDLE2ONNX_LOG


def test_no_stage_starts_once_a_signal_said_stop(monkeypatch):
    """A library that swallowed the worker's ``Terminated`` must not run the next stage."""
    rec = ModelRecord("M", Status.PASSED)
    with _Stage(rec, "convert"):
        pass
    monkeypatch.setattr(signals, "_stopping", [15])
    with pytest.raises(Terminated), _Stage(rec, "verify"):
        pytest.fail("the stage ran")
    assert rec.stage == "convert"


def test_a_worker_the_oom_killer_took_is_named(tmp_path, monkeypatch):
    """A SIGKILL alone does not say why; the kernel's OOM-kill count going up does."""
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("pgfault 10\noom_kill 2\n")
    assert executor.oom_kills(vmstat) == 2
    assert executor.oom_kills(tmp_path / "absent") is None
    monkeypatch.setattr(executor, "oom_kills", lambda: 3)
    assert "out-of-memory killer" in executor._why_died(-signal.SIGKILL, 2)
    assert executor._why_died(-signal.SIGKILL, 3) == "killed by SIGKILL"  # someone else's kill
    assert "out-of-memory" not in executor._why_died(-signal.SIGSEGV, 2)
    assert "out-of-memory" not in executor._why_died(-signal.SIGKILL, None)  # unknown before
    rec = executor.crashed("M", "killed by SIGKILL", 12.5)
    assert rec.stage_seconds["total"] == 12.5 and rec.stage == "worker"
