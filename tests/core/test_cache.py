from __future__ import annotations

import functools
import json
import multiprocessing
import os
import time
import zipfile

import numpy as np
import pytest

from p2o.core import cache


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("P2O_NO_CACHE", raising=False)
    cache.set_enabled(None)
    yield tmp_path / "c"
    cache.set_enabled(None)


class Counter:
    def __init__(self, value):
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.value


KEY = {"model": "RedNet26", "seed": 0}


def test_computes_once_and_returns_the_same_arrays(own_cache):
    fn = Counter({"a": np.arange(6, dtype="float32").reshape(2, 3), "b": np.ones(2, "int64")})
    first = cache.get_or_compute("thing", KEY, fn)
    second = cache.get_or_compute("thing", dict(reversed(KEY.items())), fn)  # key order irrelevant
    assert fn.calls == 1
    assert set(second) == {"a", "b"}
    for k in first:
        np.testing.assert_array_equal(second[k], first[k])
        assert second[k].dtype == first[k].dtype
    assert list((own_cache / "thing").iterdir()) == [cache.entry_path("thing", KEY)]


def test_single_array_round_trips_as_an_array():
    fn = Counter(np.linspace(0, 1, 5))
    cache.get_or_compute("x", KEY, fn)
    out = cache.get_or_compute("x", KEY, fn)
    assert isinstance(out, np.ndarray) and fn.calls == 1
    np.testing.assert_array_equal(out, np.linspace(0, 1, 5))


def test_another_key_is_another_entry():
    fn = Counter(np.zeros(3))
    cache.get_or_compute("x", KEY, fn)
    cache.get_or_compute("x", {**KEY, "seed": 1}, fn)
    assert fn.calls == 2


def _entries(root):
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "flipped_byte", "other_checksum", "other_key"],
)
def test_a_corrupt_entry_is_recomputed_not_trusted(own_cache, damage):
    good = np.arange(1000, dtype="float32")
    fn = Counter({"w": good})
    cache.get_or_compute("x", KEY, fn)
    path = cache.entry_path("x", KEY)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped_byte":  # inside the array's bytes: the zip CRC no longer matches
        i = data.index(good.tobytes()[400:408]) + 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    else:  # a well-formed file whose metadata does not fit its arrays or its key
        with np.load(path) as z:
            meta = json.loads(bytes(z["__p2o_cache__"]).decode())
            arrays = {k: z[k] for k in z.files if k != "__p2o_cache__"}
        if damage == "other_checksum":
            arrays["w"] = arrays["w"] + 1  # stored arrays changed, checksum kept
        else:
            meta["key"] = {**KEY, "seed": 7}
        blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        with open(path, "wb") as f:
            np.savez(f, __p2o_cache__=blob, **arrays)
    out = cache.get_or_compute("x", KEY, fn)
    assert fn.calls == 2
    np.testing.assert_array_equal(out["w"], good)
    # and the entry was rewritten sound: the next call reads it
    cache.get_or_compute("x", KEY, fn)
    assert fn.calls == 2
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None


def test_a_failing_compute_leaves_no_file(own_cache):
    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("x", KEY, boom)
    assert _entries(own_cache) == []


def test_write_is_atomic_no_temp_left(own_cache, monkeypatch):
    def interrupted_savez(f, **arrays):
        f.write(b"PK half")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("x", KEY, Counter(np.zeros(2)))
    assert _entries(own_cache) == []


def test_disabled_neither_reads_nor_writes(own_cache, monkeypatch):
    fn = Counter(np.zeros(2))
    monkeypatch.setenv("P2O_NO_CACHE", "1")
    cache.get_or_compute("x", KEY, fn)
    cache.get_or_compute("x", KEY, fn)
    assert fn.calls == 2 and _entries(own_cache) == []
    monkeypatch.delenv("P2O_NO_CACHE")
    cache.set_enabled(False)
    cache.get_or_compute("x", KEY, fn)
    assert fn.calls == 3 and _entries(own_cache) == []


def test_unwritable_cache_still_returns_the_result(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("P2O_CACHE_DIR", str(blocker / "sub"))  # cannot mkdir under a file
    out = cache.get_or_compute("x", KEY, Counter(np.ones(2)))
    np.testing.assert_array_equal(out, np.ones(2))


def test_info_and_clear(own_cache):
    cache.get_or_compute("a", KEY, Counter(np.zeros(10)))
    cache.get_or_compute("a", {**KEY, "seed": 2}, Counter(np.zeros(10)))
    cache.get_or_compute("b", KEY, Counter(np.zeros(10)))
    got = cache.info()
    assert got.root == str(own_cache)
    assert {k: v["entries"] for k, v in got.kinds.items()} == {"a": 2, "b": 1}
    assert got.entries == 3 and got.bytes > 0
    assert json.loads(json.dumps(got.to_dict()))["entries"] == 3
    removed = cache.clear("a")
    assert set(removed.kinds) == {"a"}
    assert set(cache.info().kinds) == {"b"}
    cache.clear()
    assert cache.info().entries == 0


def test_default_root_is_the_user_cache_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("P2O_CACHE_DIR")
    assert str(cache.root()) == platformdirs.user_cache_dir("p2o", appauthor=False)


def _slow_compute(log) -> np.ndarray:
    with open(log, "a") as f:
        f.write("computed\n")
    time.sleep(0.5)  # long enough for the other process to ask meanwhile
    return np.arange(3.0)


def _ask(root, log, results) -> None:
    os.environ["P2O_CACHE_DIR"] = str(root)
    results.put(cache.get_or_compute("x", KEY, functools.partial(_slow_compute, log)).tolist())


def test_two_processes_asking_at_once_compute_once(own_cache, tmp_path):
    """Release workers asking for the same entry (twin models' weights) compute it once."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    log = tmp_path / "log"
    procs = [ctx.Process(target=_ask, args=(own_cache, log, results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert [results.get(timeout=5) for _ in procs] == [[0.0, 1.0, 2.0]] * 2
    assert log.read_text().count("computed") == 1
    assert _entries(own_cache) == [cache.entry_path("x", KEY)]  # no lock file left
