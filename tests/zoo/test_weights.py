"""Strict loading and the official-weights download, against a local HTTP server."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from pathlib import Path

import numpy as np
import paddle
import pytest

from p2o.core.errors import EnvironmentProblem, WeightsError
from p2o.zoo import create_model, registry, weights

NAME = "RegNetX_200MF"


@pytest.fixture(scope="module")
def pdparams(tmp_path_factory) -> Path:
    """An official-format weights file: a state dict with PaddleClas's keys."""
    model = registry.build(NAME)
    rng = np.random.default_rng(7)
    state = {
        k: rng.standard_normal(v.shape).astype("float32") for k, v in model.state_dict().items()
    }
    path = tmp_path_factory.mktemp("w") / f"{NAME}_pretrained.pdparams"
    paddle.save(state, str(path))
    return path


@contextlib.contextmanager
def serve(directory: Path, truncate: bool = False):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(directory), **kw)

        def log_message(self, *a):
            pass

        def copyfile(self, source, outputfile):
            if truncate:  # promise the whole file, send half, hang up
                data = source.read()
                outputfile.write(data[: len(data) // 2])
                return
            super().copyfile(source, outputfile)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_load_from_path_is_exact(pdparams):
    model = create_model(NAME, weights=pdparams)
    loaded = paddle.load(str(pdparams), return_numpy=True)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), loaded[k])
    assert not model.training


def test_strict_load_names_the_bad_keys(pdparams, tmp_path):
    state = paddle.load(str(pdparams), return_numpy=True)
    key = next(iter(state))
    del state[key]
    state["head.extra"] = np.zeros(3, "float32")
    bad = tmp_path / "bad.pdparams"
    paddle.save(state, str(bad))
    with pytest.raises(WeightsError) as info:
        create_model(NAME, weights=bad)
    msg = str(info.value)
    assert key in msg and "head.extra" in msg and "1 missing" in msg and "1 unexpected" in msg


def test_strict_load_rejects_a_mis_shaped_key(pdparams, tmp_path):
    state = paddle.load(str(pdparams), return_numpy=True)
    state["out.weight"] = state["out.weight"][:, :10]
    bad = tmp_path / "bad.pdparams"
    paddle.save(state, str(bad))
    with pytest.raises(WeightsError, match=r"out.weight \[.*, 10\] \(network wants"):
        create_model(NAME, weights=bad)


def test_not_a_weights_file(tmp_path):
    junk = tmp_path / "junk.pdparams"
    junk.write_text("not a pickle")
    with pytest.raises(WeightsError.__mro__[1]):  # UsageError
        create_model(NAME, weights=junk)


def test_pretrained_download_cache_and_reuse(pdparams, tmp_path, monkeypatch):
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "cache"))
    with serve(pdparams.parent) as url:
        monkeypatch.setenv("P2O_WEIGHTS_BASE_URL", url)
        path = weights.download_pretrained(NAME)
    assert path == tmp_path / "cache" / "pretrained" / pdparams.name
    assert path.read_bytes() == pdparams.read_bytes()
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["sha256"] == weights.sha256_file(pdparams)
    assert meta["url"].startswith("http://127.0.0.1:")
    # server gone: the cached file is reused, no network needed
    monkeypatch.setenv("P2O_WEIGHTS_BASE_URL", "http://127.0.0.1:9/")
    model = create_model(NAME, weights="pretrained")
    np.testing.assert_array_equal(
        model.state_dict()["out.bias"].numpy(),
        paddle.load(str(pdparams), return_numpy=True)["out.bias"],
    )
    # a corrupted cache entry is detected by its checksum and fetched again
    path.write_bytes(b"garbage")
    with pytest.raises(EnvironmentProblem):
        weights.download_pretrained(NAME)


def test_interrupted_download_leaves_no_file(pdparams, tmp_path, monkeypatch):
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "cache"))
    with serve(pdparams.parent, truncate=True) as url:
        monkeypatch.setenv("P2O_WEIGHTS_BASE_URL", url)
        with pytest.raises(EnvironmentProblem):
            weights.download_pretrained(NAME)
    leftovers = list((tmp_path / "cache").rglob("*"))
    assert [p for p in leftovers if p.is_file()] == []


def test_offline_says_to_pass_weights(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("P2O_WEIGHTS_BASE_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(EnvironmentProblem, match="pass --weights"):
        create_model(NAME, weights="pretrained")


def test_synthetic_weights_come_from_the_disk_cache(tmp_path, monkeypatch):
    import p2o
    import p2o.zoo as zoo

    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "c"))
    calls = []
    real = weights.synthesize

    def counting(model, seed=0, images=None):
        calls.append(seed)
        real(model, seed=seed, images=images)

    monkeypatch.setattr(weights, "synthesize", counting)
    state = {k: v.numpy() for k, v in create_model(NAME).state_dict().items()}
    zoo._SYNTHETIC.clear()  # a new process: memory empty, disk cache full
    again = create_model(NAME).state_dict()
    assert calls == [0]
    for k, v in state.items():
        np.testing.assert_array_equal(again[k].numpy(), v)
    # another seed or another p2o version is another entry
    zoo._SYNTHETIC.clear()
    create_model(NAME, seed=1)
    zoo._SYNTHETIC.clear()
    monkeypatch.setattr(p2o, "__version__", "99.0")
    create_model(NAME)
    assert calls == [0, 1, 0]
    zoo._SYNTHETIC.clear()
