"""Data on stdout, people's text on stderr, for every command: --json parses, and without
--json the data (a table, a path) is still what stdout holds."""

from __future__ import annotations

import json

import pytest

from p2o.cli import main
from tests.tiny import export_tiny_net


def run(capsys, *argv: str, code: int = 0) -> tuple[str, str]:
    assert main(list(argv)) == code
    return capsys.readouterr()


def test_list(capsys):
    out, err = run(capsys, "list", "--json")
    assert [m["name"] for m in json.loads(out)][:2] == ["RedNet26", "RedNet38"]
    out, err = run(capsys, "list", "RedNet*")
    assert out.splitlines()[2].startswith("RedNet26") and len(out.splitlines()) == 7
    assert "seed table" in err and "seed table" not in out  # the footnote is for people
    _, err = run(capsys, "list", "RedNet*", "-q")
    assert err == ""


def test_list_patterns_ignore_case_and_no_match_is_exit_2(capsys):
    out, _ = run(capsys, "list", "rednet26", "--json")
    assert [m["name"] for m in json.loads(out)] == ["RedNet26"]
    out, err = run(capsys, "list", "rednet51", code=2)
    assert out == ""
    assert err.strip().splitlines() == [
        "p2o: error: no model matches 'rednet51' (did you mean RedNet50, RedNet152 or RedNet101?)"
    ]


def test_unknown_model_and_runtime_say_did_you_mean(capsys):
    _, err = run(capsys, "convert", "--model", "RedNet51", code=2)
    assert "unknown model 'RedNet51' (did you mean RedNet50" in err
    from p2o.core.errors import UsageError
    from p2o.runtimes import registry

    with pytest.raises(UsageError, match=r"\(did you mean ort-cpu or ort-cuda\?\)"):
        registry.get("ort-cpuu")


def test_runtimes(capsys):
    out, _ = run(capsys, "runtimes", "--json")
    names = [r["name"] for r in json.loads(out)]
    assert "ort-cpu" in names and "paddle" in names
    out, _ = run(capsys, "runtimes")
    assert [line.split()[0] for line in out.splitlines()] == names


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "m"
    export_tiny_net(path, 0, 3, (3, 8, 8))
    return path


@pytest.mark.slow
def test_convert_prints_the_path_and_its_summary_on_stderr(tiny_model, tmp_path, capsys):
    out, err = run(capsys, "convert", "--paddle-model", str(tiny_model), "-o", str(tmp_path / "a"))
    assert out == f"{tmp_path / 'a' / 'model.onnx'}\n"
    assert "sha256" in err and "nodes:" in err
    out, _ = run(
        capsys, "convert", "--paddle-model", str(tiny_model), "-o", str(tmp_path / "b"), "--json"
    )
    assert json.loads(out)["onnx"] == str(tmp_path / "b" / "model.onnx")
    out, err = run(
        capsys, "convert", "--paddle-model", str(tiny_model), "-o", str(tmp_path / "c"), "-q"
    )
    assert out == f"{tmp_path / 'c' / 'model.onnx'}\n" and err == ""


@pytest.fixture(scope="module")
def tiny_onnx(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_onnx")
    assert main(["convert", "--paddle-model", str(tiny_model), "-o", str(out), "-q"]) == 0
    return out / "model.onnx"


@pytest.mark.slow
def test_verify_table_on_stdout_progress_on_stderr(tiny_model, tiny_onnx, capsys):
    args = ["verify", "--onnx", str(tiny_onnx), "--paddle-model", str(tiny_model)]
    args += ["--runtimes", "ort-cpu", "--batch", "1"]
    out, err = run(capsys, *args)
    assert any(line.startswith("ort-cpu") and "passed" in line for line in out.splitlines())
    assert "p2o: " in err and "p2o: " not in out  # progress lines only on stderr
    out, _ = run(capsys, *args, "--json")
    data = json.loads(out)
    assert "ort-cpu" in json.dumps(data) and data["exit_code"] == 0


def test_bench_table_on_stdout(tiny_onnx, capsys):
    args = ["bench", "--onnx", str(tiny_onnx), "--runtimes", "ort-cpu", "--batch", "1"]
    args += ["--iters", "3", "--warmup", "1"]
    out, err = run(capsys, *args)
    assert "ort-cpu" in out and "building ort-cpu" in err and "building" not in out
    out, err = run(capsys, *args, "--json", "-q")
    assert json.loads(out) and err == ""
