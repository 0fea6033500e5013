"""A signal to the release's whole process group (``timeout``, Ctrl-C in a terminal) is as clean
as one to the driver alone: exit 143/130, at most three lines on stderr, no traceback, nothing
left in ``DIST/.work`` and no model directory that is not complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.signals import default_signals

MODELS = ("RegNetX_200MF", "RegNetX_400MF")


def _release(dist: Path, cache: Path, tmp: Path, sig: str) -> subprocess.Popen[bytes]:
    """``timeout -s SIG`` around the release: it puts itself and the release in a new process
    group and, on SIGALRM, sends SIG to the release and then to the whole group."""
    cmd = [
        "timeout",
        "--preserve-status",
        "-s",
        sig,
        "600",
        sys.executable,
        "-m",
        "p2o.cli",
        "release",
        "--models",
        ",".join(MODELS),
    ]
    cmd += ["--out", str(dist), "--jobs", "2", "--runtimes", "ort-cpu", "--batch", "1"]
    env = {**os.environ, "P2O_CACHE_DIR": str(cache), "P2O_PROGRESS": "plain", "TMPDIR": str(tmp)}
    env.pop("P2O_DEBUG", None)
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=default_signals,
    )


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _workers_importing(proc: subprocess.Popen[bytes], tmp: Path) -> bool:
    """Both worker processes exist (they import p2o and Paddle for a few seconds)."""
    return any(len(_children(driver)) >= 2 for driver in _children(proc.pid))


def _in_paddle2onnx(proc: subprocess.Popen[bytes], tmp: Path) -> bool:
    """A worker runs paddle2onnx (Paddle), its temporary folder made (in the worker's $TMPDIR,
    a folder the driver made in ours)."""
    return bool(list(tmp.glob("p2o-release-*/p2o-paddle2onnx-*")))


@pytest.mark.slow
@pytest.mark.parametrize("moment", [_workers_importing, _in_paddle2onnx], ids=lambda f: f.__name__)
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_process_group_mid_release_is_clean(tmp_path, sig, code, moment):
    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("no /proc/PID/task/TID/children here")
    dist, cache, tmp = tmp_path / "dist", tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()  # an empty cache: synthetic weights, Paddle's export, paddle2onnx
    proc = _release(dist, cache, tmp, sig.name)
    deadline = time.monotonic() + 300
    while not moment(proc, tmp):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGALRM)  # timeout's time is up now
    _, err = proc.communicate(timeout=120)
    text = err.decode(errors="replace")
    assert proc.returncode == code, text  # the release's own code (--preserve-status)
    assert len(text.splitlines()) <= 3, text
    assert "Traceback" not in text and "Error" not in text, text
    time.sleep(1)  # a worker that outlived the driver would still be writing
    assert not (dist / ".work").exists() or list((dist / ".work").iterdir()) == []
    unfinished = [p for p in dist.iterdir() if p.is_dir() and p.name != ".work"]
    assert all((p / "record.json").is_file() for p in unfinished), unfinished
    assert not (dist / "release.json").exists()
    assert list(tmp.iterdir()) == []  # p2o-convert-*, p2o-paddle2onnx-*: the workers' went too
