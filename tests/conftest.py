from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("FLAGS_call_stack_level", "0")

# The tests never read or fill the user's cache: one fresh cache per test session (shared by
# its tests, so a model's synthetic weights are computed once per run), removed at the end.
_CACHE = tempfile.mkdtemp(prefix="p2o-test-cache-")
os.environ["P2O_CACHE_DIR"] = _CACHE
os.environ.pop("P2O_NO_CACHE", None)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)
