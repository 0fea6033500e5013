"""Bring your own model: users' Paddle files (not the zoo's) convert and verify from any directory.

Every test runs in a working directory other than the model's.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from p2o.bench import BenchOptions
from p2o.cli import main
from tests.support.signals import default_signals

YML_256 = """\
PreProcess:
  transform_ops:
  - ResizeImage: {resize_short: 292}
  - CropImage: {size: 256}
  - NormalizeImage: {scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406],
                     std: [0.229, 0.224, 0.225], order: '', channel_num: 3}
  - ToCHWImage: null
PostProcess:
  Topk: {topk: 2, label_list: [zero, one, two, three, four, five]}
"""
VERIFY = ["--runtimes", "ort-cpu", "--batch", "1,2"]


@pytest.fixture
def work(tmp_path: Path, monkeypatch) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_relative_folder_converts_and_verifies(byom: Path, tmp_path: Path, work: Path, capsys):
    """The bug: paddle2onnx's child ran elsewhere and could not find ``models/mobile``."""
    shutil.copytree(byom / "mobile", tmp_path / "models" / "mobile")
    code, out, err = _run(capsys, "convert", "--paddle-model", "../models/mobile", "-o", "out")
    assert code == 0, err
    m = json.loads((work / "out" / "manifest.json").read_text())
    src = m["source"]
    assert (m["model"], src["format"], src["inputs"][0]["name"]) == ("mobile", "pir", "image")
    assert set(src["files"]) == {
        str(tmp_path / "models" / "mobile" / "inference.json"),
        str(tmp_path / "models" / "mobile" / "inference.pdiparams"),
    }
    assert src["preprocess"]["source"] == "ImageNet default"
    code, out, err = _run(
        capsys, "verify", "--onnx", "out/model.onnx", "--paddle-model", "../models/mobile", *VERIFY
    )
    assert code == 0, out + err
    assert "preprocessing ImageNet default" in out

    # a conversion broken on purpose (one weight scaled) must fail verify
    model = onnx.load("out/model.onnx")
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    arr = onnx.numpy_helper.to_array(init) * 1.5
    init.CopyFrom(onnx.numpy_helper.from_array(arr.astype(np.float32), init.name))
    onnx.save(model, "broken.onnx")
    code, out, err = _run(
        capsys, "verify", "--onnx", "broken.onnx", "--paddle-model", "../models/mobile", *VERIFY
    )
    assert code == 1 and "FAILED" in out


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (
            "truncate",
            r"inference.pdiparams: [\d,]+ bytes, the program inference.json needs [\d,]+ "
            r"\(truncated\?\)",
        ),
        ("pad", r"inference.pdiparams: .* \(padded\?\)"),
        (
            "foreign",
            r"inference.pdiparams: tensor \d+ of 36 is .* \(the parameters of another model\?\)",
        ),
        ("garbage", r"inference.pdiparams: not a Paddle parameters file"),
        ("program", r"inference.json: not a Paddle program \(PIR program without a data"),
        ("json", r"inference.json: not a Paddle program \(JSON without PIR's base_code"),
        ("no-params", r"inference.json: no parameters beside it"),
    ],
)
@pytest.mark.slow
def test_bad_files_are_exit_2_naming_the_file(
    byom: Path, tmp_path: Path, work: Path, capsys, damage: str, why: str
):
    d = shutil.copytree(byom / "mobile", tmp_path / "m")
    params = d / "inference.pdiparams"
    data = params.read_bytes()
    if damage == "truncate":
        params.write_bytes(data[: len(data) // 2])
    elif damage == "pad":
        params.write_bytes(data + b"\0" * 8)
    elif damage == "foreign":
        shutil.copy(byom / "fixed160" / "inference.pdiparams", params)
    elif damage == "garbage":
        params.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif damage == "program":
        (d / "inference.json").write_text('{"base_code": {"magic": "pir"}, "program": {}}')
    elif damage == "json":
        (d / "inference.json").write_text('{"hello": 1}')
    else:
        params.unlink()
    code, _, err = _run(capsys, "convert", "--paddle-model", str(d), "-o", "out")
    assert code == 2
    errors = [ln for ln in err.strip().splitlines() if ln.startswith("p2o: error:")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]), err  # one line, the last
    assert re.search(why, errors[0]), errors[0]
    assert not (work / "out").exists()  # nothing written


@pytest.mark.slow
def test_archive_with_a_fixed_160_input(byom: Path, tmp_path: Path, work: Path, capsys):
    archive = tmp_path / "Fixed160_infer.tgz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(byom / "fixed160", arcname="Fixed160_infer")
    code, out, err = _run(capsys, "convert", "--paddle-model", "../Fixed160_infer.tgz", "-o", "o")
    assert code == 0, err
    m = json.loads((work / "o" / "manifest.json").read_text())
    assert m["model"] == "Fixed160_infer" and m["inputs"][0]["shape"][1:] == [3, 160, 160]
    assert str(archive) in m["source"]["files"]
    assert m["source"]["preprocess"]["input_shape"] == [3, 160, 160]
    code, out, err = _run(
        capsys, "verify", "--onnx", "o/model.onnx", "--paddle-model", str(archive), *VERIFY
    )
    assert code == 0, out + err
    assert "sized to the program's 160x160 input" in out


@pytest.mark.slow
def test_legacy_program_with_odd_names(byom: Path, tmp_path: Path, work: Path, capsys):
    (tmp_path / "prog").mkdir()
    (tmp_path / "weights").mkdir()
    shutil.copy(
        byom / "mobile_legacy" / "inference.pdmodel", tmp_path / "prog" / "classifier.pdmodel"
    )
    shutil.copy(byom / "mobile_legacy" / "inference.pdiparams", tmp_path / "weights" / "w.params")
    args = ["--paddle-model", "../prog/classifier.pdmodel", "--params", "../weights/w.params"]
    code, out, err = _run(capsys, "convert", *args, "-o", "o")
    assert code == 0, err
    m = json.loads((work / "o" / "manifest.json").read_text())
    assert (m["model"], m["source"]["format"]) == ("classifier", "legacy")
    code, out, err = _run(capsys, "verify", "--onnx", "o/model.onnx", *args, *VERIFY)
    assert code == 0, out + err


@pytest.mark.slow
def test_two_outputs_with_paddleclas_config_at_256(byom: Path, tmp_path: Path, work: Path, capsys):
    d = shutil.copytree(byom / "two_heads", tmp_path / "two_heads")
    (d / "inference.yml").write_text(YML_256)
    code, out, err = _run(capsys, "convert", "--paddle-model", "../two_heads", "-o", "o")
    assert code == 0, err
    assert "preprocessing: inference.yml, input 3x256x256" in out + err
    m = json.loads((work / "o" / "manifest.json").read_text())
    pp = m["source"]["preprocess"]
    assert (pp["resize_short"], pp["crop"], pp["topk"], len(pp["labels"])) == (292, 256, 2, 6)
    assert str(d / "inference.yml") in m["source"]["files"]
    assert len(m["outputs"]) == 2 and m["inputs"][0]["name"] == "pixels"
    code, out, err = _run(
        capsys,
        "verify",
        "--onnx",
        "o/model.onnx",
        "--paddle-model",
        "../two_heads",
        "--json",
        *VERIFY,
    )
    assert code == 0, out + err
    result = json.loads(out)
    assert "preprocessing inference.yml: short side 292, crop 256x256" in result["inputs"]
    assert all(len(r["outputs"]) == 2 for r in result["results"])

    # bench fills the ONNX file's dynamic image size from the config
    from p2o.bench import benchmark

    res = benchmark(
        BenchOptions(
            onnx_file="o/model.onnx",
            paddle_model="../two_heads",
            runtimes=["ort-cpu", "paddle"],
            iters=2,
            warmup=1,
        )
    )
    assert {t.status for t in res.timings} == {"passed"}, [t.reason for t in res.timings]
    assert res.paddle_model == str(d)


@pytest.mark.slow
def test_paddleclas_style_tar(byom: Path, tmp_path: Path, work: Path, capsys):
    """What PaddleClas publishes: NAME_infer.tar holding NAME_infer/ with a legacy program,
    its params (+ .info) and the export's inference.yml."""
    folder = tmp_path / "Mobile_infer"
    shutil.copytree(byom / "mobile_legacy", folder)
    (folder / "inference.yml").write_text(
        YML_256.replace("292", "256").replace("size: 256", "size: 224")
    )
    with tarfile.open(tmp_path / "Mobile_infer.tar", "w") as t:
        t.add(folder, arcname="Mobile_infer")
    shutil.rmtree(folder)
    code, out, err = _run(capsys, "convert", "--paddle-model", "../Mobile_infer.tar", "-o", "o")
    assert code == 0, err
    summary = out + err  # the convert summary is for people: stderr
    assert (
        "legacy program" in summary and "preprocessing: inference.yml, input 3x224x224" in summary
    )
    src = json.loads((work / "o" / "manifest.json").read_text())["source"]
    assert src["format"] == "legacy" and src["config_file"].endswith(".tar:inference.yml")
    assert len(src["files"]) == 4  # the tar, the program, the params, the config
    code, out, err = _run(
        capsys, "verify", "--onnx", "o/model.onnx", "--paddle-model", "../Mobile_infer.tar", *VERIFY
    )
    assert code == 0, out + err
    assert "preprocessing inference.yml: short side 256, crop 224x224" in out


@pytest.mark.slow
def test_sigterm_during_conversion_leaves_nothing(byom: Path, tmp_path: Path, work: Path):
    """The unpacked archive (and paddle2onnx's own files) live in the conversion's temporary
    folder: SIGTERM unwinds like Ctrl-C, so it goes, and no output appears."""
    import os
    import signal
    import subprocess
    import sys
    import time

    archive = tmp_path / "m.tgz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(byom / "mobile", arcname="m")
    private = tmp_path / "tmp"
    private.mkdir()
    env = {**os.environ, "TMPDIR": str(private), "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "p2o.cli", "convert", "--paddle-model", str(archive), "-o", "o"]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=default_signals,
    )
    deadline = time.monotonic() + 60
    while not list(private.glob("p2o-paddle2onnx-*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # paddle2onnx has started: the archive is unpacked by then
    assert list(private.glob("p2o-convert-*/archive/m/inference.json"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert list(private.iterdir()) == [] and not (work / "o").exists()


@pytest.mark.slow
def test_a_fixed_batch_program_is_verified_at_its_batch(tmp_path: Path, work: Path, capsys):
    from tests.converter import byom_nets

    byom_nets.export("mobile", tmp_path / "b1", shape=[1, 3, 192, 192])
    code, out, err = _run(capsys, "convert", "--paddle-model", "../b1", "-o", "o")
    assert code == 0, err
    code, out, err = _run(capsys, "verify", "--onnx", "o/model.onnx", "--paddle-model", "../b1")
    assert code == 0, out + err  # not an error at the default batch 4
    assert "batch size is fixed to 1: verified at batch 1 only" in out + err
