"""The suite passes when it inherits SIGINT as ignored (``nohup``, ``cmd &`` in a script, some CI
runners): tests start the children they signal with default dispositions
(``tests.support.signals.default_signals``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SIGNALS_A_CHILD = re.compile(r"\.send_signal\(|os\.killpg\(|\.terminate\(\)")


def test_every_test_that_signals_a_child_it_started_restores_default_dispositions():
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        text = path.read_text()
        if "subprocess.Popen(" in text and SIGNALS_A_CHILD.search(text):
            popens = text.count("subprocess.Popen(")
            if text.count("preexec_fn=default_signals") < popens:
                offenders.append(str(path.relative_to(TESTS)))
    assert offenders == []


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
def test_signal_tests_pass_when_the_suite_inherits_sigint_ignored(tmp_path):
    """The tests that SIGINT a child, run by a pytest that starts with SIGINT ignored."""
    test = "tests/converter/test_source.py::test_unpacked_folder_removed_on_signal"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    run = subprocess.run(
        cmd,
        cwd=TESTS.parent,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=_ignoring_sigint,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert "2 passed" in run.stdout, run.stdout[-3000:]
