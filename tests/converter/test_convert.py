"""The conversion pipeline end to end, on a small zoo model."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys

import numpy as np
import onnx
import pytest

from p2o.converter import ConvertOptions, convert, paddle2onnx, simplify
from p2o.converter.export import export_legacy, export_static
from p2o.converter.manifest import Manifest
from p2o.core.errors import CheckFailed, Terminated, UsageError
from p2o.runtimes.paddle import PaddleRunner
from p2o.zoo import create_model
from p2o.zoo.inputs import sample_batch
from tests.numerics import assert_parity
from tests.tiny import export_tiny_net

NAME = "RegNetX_200MF"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert(ConvertOptions(NAME, out_dir=tmp_path_factory.mktemp("c") / NAME))


def _ort(path, x):
    return simplify.ort_run(onnx.load(str(path)), {"x": x})[0]


@pytest.mark.slow
def test_manifest_describes_the_artifact(converted):
    m = Manifest.load(converted.manifest_path)
    data = converted.onnx_path.read_bytes()
    import hashlib

    assert m.onnx_sha256 == hashlib.sha256(data).hexdigest() and m.onnx_bytes == len(data)
    assert m.model == NAME and m.source["kind"] == "zoo"
    assert m.source["weights"] == "synthetic(seed=0)" and len(m.source["weights_sha256"]) == 64
    assert m.opset == m.opset_requested == 17 and m.opset_raised_because == ""
    assert m.inputs[0].name == "x" and m.inputs[0].shape[1:] == [3, 224, 224]
    assert isinstance(m.inputs[0].shape[0], str)  # dynamic batch
    assert m.outputs[0].shape[1:] == [1000] and m.outputs[0].dtype == "float32"
    assert m.node_counts["simplified"] < m.node_counts["paddle2onnx"]
    assert set(m.stage_seconds) >= {"build", "export", "paddle2onnx", "simplify", "equivalence"}
    assert m.tools["paddle2onnx"] == "2.1.0" and m.custom_ops == []
    assert m.equivalence["max_rel"] <= 1e-5


def test_onnx_computes_what_paddle_computes(converted, tmp_path):
    x = sample_batch(3)
    net = create_model(NAME)
    ref = PaddleRunner(export_static(net, tmp_path).model_file.parent, onednn=False).run(x)
    got = _ort(converted.onnx_path, x)
    want = next(iter(ref.values()))
    assert_parity(got, want)
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.slow
def test_same_inputs_give_identical_bytes(converted, tmp_path):
    again = convert(ConvertOptions(NAME, out_dir=tmp_path / "again"))
    assert again.onnx_path.read_bytes() == converted.onnx_path.read_bytes()
    other_seed = convert(
        ConvertOptions(NAME, seed=1, out_dir=tmp_path / "seed1", simplifier="none")
    )
    assert other_seed.manifest.onnx_sha256 != converted.manifest.onnx_sha256


def test_refuses_to_overwrite_and_bad_options_write_nothing(converted, tmp_path):
    before = converted.onnx_path.read_bytes()
    with pytest.raises(UsageError, match="--overwrite"):
        convert(ConvertOptions(NAME, out_dir=converted.out_dir))
    assert converted.onnx_path.read_bytes() == before
    for kwargs in (
        {"opset": 5},
        {"batch": 0},
        {"simplifier": "magic"},
        {"involution": "x"},
        {"involution_body": "tpu"},
    ):
        with pytest.raises(UsageError):
            convert(ConvertOptions(NAME, out_dir=tmp_path / "bad", **kwargs))
    with pytest.raises(UsageError, match="unknown model"):
        convert(ConvertOptions("NoSuchNet", out_dir=tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_a_simplifier_that_changes_outputs_is_caught(tmp_path, monkeypatch):
    real = simplify.simplify

    def corrupting(model, tool):
        out = real(model, tool)
        floats = [t for t in out.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
        init = max(floats, key=lambda t: int(np.prod(t.dims)))
        arr = onnx.numpy_helper.to_array(init) * np.float32(1.01)
        init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
        return out

    monkeypatch.setattr(simplify, "simplify", corrupting)
    with pytest.raises(CheckFailed, match="changed the model's outputs"):  # asked: strict
        convert(ConvertOptions(NAME, out_dir=tmp_path / "out", strict_simplifier=True))
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not (tmp_path / "out" / "model.onnx").exists()


@pytest.mark.slow
def test_fixed_batch(tmp_path):
    res = convert(ConvertOptions(NAME, out_dir=tmp_path / "b2", batch=2, simplifier="onnxslim"))
    assert res.manifest.inputs[0].shape == [2, 3, 224, 224]
    assert _ort(res.onnx_path, sample_batch(2)).shape == (2, 1000)


@pytest.mark.slow
def test_legacy_pdmodel_directory(tmp_path):
    import paddle

    net = create_model(NAME)
    paddle.save(net.state_dict(), str(tmp_path / "w.pdparams"))
    files = export_legacy(NAME, tmp_path / "w.pdparams", tmp_path / "legacy")
    assert files.format == "legacy" and files.model_file.name == "inference.pdmodel"
    res = convert(ConvertOptions(paddle_model=tmp_path / "legacy", out_dir=tmp_path / "out"))
    assert res.manifest.source["format"] == "legacy"
    x = sample_batch(2)
    want = PaddleRunner(tmp_path / "legacy", onednn=False).run(x)
    got = _ort(res.onnx_path, x)
    assert_parity(got, next(iter(want.values())))


def test_paddle2onnx_abort_becomes_a_clear_error(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'converter log line' >&2\nkill -ABRT $$\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    export_tiny_net(tmp_path / "m", 0, 3, (3, 8, 8))  # a real model: its params are checked first
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(paddle2onnx.ConversionError, match="SIGABRT") as info:
        convert(ConvertOptions(paddle_model=tmp_path / "m", out_dir=tmp_path / "out"))
    msg = str(info.value)
    assert "converter log line" in msg and "\n" not in msg
    log = msg.rsplit("full log: ", 1)[1]
    assert "converter log line" in open(log).read()
    os.unlink(log)
    assert not (tmp_path / "out").exists()


def test_child_is_fenced_off_from_pip_and_network():
    env = paddle2onnx._child_env()
    assert env["POLYGRAPHY_AUTOINSTALL_DEPS"] == "0" and env["PIP_NO_INDEX"] == "1"
    assert env["https_proxy"].startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_cli_convert_json_and_errors(tmp_path, capsys):
    from p2o.cli import main

    assert (
        main(
            [
                "convert",
                "--model",
                NAME,
                "-o",
                str(tmp_path / "c"),
                "--json",
                "--simplifier",
                "none",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out, parse_constant=pytest.fail)
    assert out["manifest"]["model"] == NAME and os.path.exists(out["onnx"])
    assert main(["convert", "--model", NAME, "-o", str(tmp_path / "c")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", "--paddle-model", str(tmp_path / "nope")]) == 2
    assert main(["convert"]) == 2
    capsys.readouterr()
    bad = tmp_path / "bad.pdparams"
    import paddle

    paddle.save({"out.weight": np.zeros((3, 3), "float32")}, str(bad))
    assert main(["convert", "--model", NAME, "--weights", str(bad), "-o", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("p2o: error:")]  # others: progress
    assert errors == err[-1:] and "does not fit the network" in err[-1] and "missing" in err[-1]
    assert not (tmp_path / "w").exists()


def test_the_same_network_exports_the_same_program_bytes_every_time(tmp_path):
    # Paddle numbers layer paths per process (/Sequential/ then /Sequential_1/); the Paddle
    # reference of verify is cached by the program's SHA-256, so a repeat must find it
    from p2o.core.hashing import sha256_file

    net = export_tiny_net(tmp_path / "first", 0, 3, (3, 8, 8))
    files = [export_static(net, tmp_path / str(i), input_shape=(3, 8, 8)) for i in range(2)]
    sums = {sha256_file(f.model_file) for f in files}
    assert sums == {sha256_file(tmp_path / "first" / files[0].model_file.name)}


def test_a_signal_while_convert_removes_its_folder_leaves_nothing(tmp_path, monkeypatch):
    """CI's failure (stop 28): SIGTERM to a release's process group landed in one worker while
    its convert was removing ``p2o-convert-*``; the rest of the folder stayed in ``$TMPDIR``."""
    export_tiny_net(tmp_path / "m", 0, 3, (3, 8, 8))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    real = shutil.rmtree
    hit: list[str] = []

    def rmtree(path, *args, **kwargs):
        if "p2o-convert-" in str(path) and not hit:
            hit.append(str(path))
            raise Terminated("signal 15")  # the handler ran as the removal began
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    with pytest.raises(Terminated):
        convert(ConvertOptions(paddle_model=tmp_path / "m", out_dir=tmp_path / "out"))
    assert hit and list(tmp.iterdir()) == []
