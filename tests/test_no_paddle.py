"""The ONNX side needs no Paddle: golden-based verify, bench of an ONNX file, `p2o runtimes`.

Each command runs in a fresh interpreter through a `-c` wrapper that can block the optional
packages (a meta-path finder: importing paddle, paddle2onnx or openvino raises
ModuleNotFoundError, as on a GPU box with `p2o-proof[gpu]` only) and that writes, at exit, which
of them were imported. Blocked, the golden commands must pass and a command that needs
Paddle must say in one line what to install (exit 2); unblocked, the golden commands must
still import none of them (the packages are installed here, so this could fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import p2o
from p2o.parity.golden import Golden, onnx_identity

HEAVY = ("paddle", "paddle2onnx", "openvino")
WRAPPER = f"""
import atexit, importlib.abc, json, os, sys
HEAVY = {HEAVY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None
if os.environ["P2O_TEST_BLOCK"] == "1":
    sys.meta_path.insert(0, Block())
def loaded():
    with open(os.environ["P2O_TEST_LOADED"], "w") as f:
        json.dump(sorted(m for m in sys.modules if m.partition(".")[0] in HEAVY), f)
atexit.register(loaded)
from p2o.cli import main
sys.exit(main(sys.argv[1:]))
"""

SHAPE = (3, 8, 8)


def _tiny_onnx(path: Path, seed: int) -> Path:
    import onnx

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((5, 4)).astype(np.float32), "fc"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *SHAPE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny ONNX file, its golden outputs (computed by ONNX Runtime) and another ONNX file."""
    import onnxruntime as ort

    d = tmp_path_factory.mktemp("nopaddle")
    model = _tiny_onnx(d / "tiny.onnx", 0)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((4, *SHAPE)).astype(np.float32)
    inputs = {1: x[:1], 4: x}
    outputs = {b: {"y": session.run(None, {"x": v})[0]} for b, v in inputs.items()}
    meta = {"model": "tiny", "reference": "onnxruntime", **onnx_identity(model)}
    golden = Golden(inputs, outputs, meta).save(d / "tiny.golden.npz")
    return {"onnx": model, "golden": golden, "other": _tiny_onnx(d / "other.onnx", 2)}


def p2o_run(args: list[str], cwd: Path, *, block: bool) -> tuple[int, str, str, list[str]]:
    """``p2o ARGS`` in a fresh interpreter: (exit code, stdout, stderr, heavy modules loaded)."""
    loaded = cwd / f"loaded-{os.getpid()}.json"
    src = str(Path(p2o.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        "P2O_TEST_BLOCK": "1" if block else "0",
        "P2O_TEST_LOADED": str(loaded),
    }
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    heavy = json.loads(loaded.read_text()) if loaded.is_file() else ["<no exit report>"]
    loaded.unlink(missing_ok=True)
    return proc.returncode, proc.stdout, proc.stderr, heavy


def golden_commands(f: dict[str, Path]) -> dict[str, list[str]]:
    onnx_file, golden = str(f["onnx"]), str(f["golden"])
    return {
        "verify-golden": ["verify", "--onnx", onnx_file, "--golden", golden],
        "verify-golden-json": [
            "verify",
            "--onnx",
            onnx_file,
            "--golden",
            golden,
            "--runtimes",
            "ort-cpu",
            "--json",
        ],
        "bench-onnx": ["bench", "--onnx", onnx_file, "--batch", "1,2", "--iters", "3"],
        "bench-onnx-ort": ["bench", "--onnx", onnx_file, "--runtimes", "ort-cpu", "--iters", "3"],
        "runtimes": ["runtimes", "--json"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("block", [True, False], ids=["paddle-blocked", "paddle-installed"])
def test_golden_side_imports_no_paddle(files: dict[str, Path], tmp_path: Path, block: bool):
    for name, args in golden_commands(files).items():
        if not block and name in ("verify-golden", "bench-onnx"):
            continue  # their default runtimes include OpenVINO, which then is imported to run
        code, out, err, heavy = p2o_run(args, tmp_path, block=block)
        assert code == 0, (name, err)
        assert heavy == [], (name, heavy)
        if name == "verify-golden-json":
            statuses = [r["status"] for r in json.loads(out)["results"]]
            assert statuses == ["passed", "passed"]  # ort-cpu at batch 1 and 4
        if name == "runtimes":
            table = {row["name"]: row for row in json.loads(out)}
            assert table["ort-cpu"]["available"]
            if block:
                assert not table["paddle"]["available"]
                assert "pip install 'p2o-proof[paddle]'" in table["paddle"]["reason"]
                assert not table["openvino"]["available"]
            else:  # found without importing them
                assert table["paddle"]["available"] and table["openvino"]["available"]


def test_golden_of_another_onnx_file_is_refused_without_paddle(files, tmp_path):
    args = ["verify", "--onnx", str(files["other"]), "--golden", str(files["golden"])]
    code, _, err, heavy = p2o_run(args, tmp_path, block=True)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "saved for another ONNX file" in lines[0] and heavy == []


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "--model", "RegNetX_200MF", "-o", "out"],
        ["verify", "--model", "RegNetX_200MF", "--onnx", "{onnx}"],
        ["bench", "--model", "RegNetX_200MF"],
    ],
    ids=["convert", "verify-paddle-reference", "bench-model"],
)
def test_paddle_commands_say_what_to_install(files, tmp_path, args):
    args = [a.format(onnx=files["onnx"]) for a in args]
    code, _, err, _ = p2o_run(args, tmp_path, block=True)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("p2o: error")]
    assert code == 2, err
    assert len(lines) == 1 and "pip install 'p2o-proof[paddle]'" in lines[0], err
    assert "Traceback" not in err


def test_the_onnx_side_installs_without_paddle():
    """The core and the `gpu` extra pull no Paddle, paddle2onnx, OpenVINO or CPU ONNX Runtime."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {
            r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip()
            for r in reqs
        }

    extras = project["optional-dependencies"]
    heavy = {"paddlepaddle", "paddle2onnx", "openvino", "onnxruntime"}
    assert not names(project["dependencies"]) & heavy
    assert not names(extras["gpu"]) & heavy and "onnxruntime-gpu" in names(extras["gpu"])
    assert {"paddlepaddle", "paddle2onnx"} <= names(extras["paddle"])
    cpu = names(extras["cpu"])
    assert {"onnxruntime", "openvino"} <= cpu and (project["name"] in cpu or "paddlepaddle" in cpu)


@pytest.mark.slow
def test_a_zoo_reference_needs_paddle_even_when_its_cache_is_full(tmp_path, monkeypatch):
    """Weights and Paddle outputs in the cache: still one line saying what to install, as on
    an empty cache (the verdict does not depend on what the cache holds)."""
    from p2o.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["verify", "--model", "RegNetX_200MF", "--runtimes", "ort-cpu", "--batch", "1"]
    assert main(args) == 0  # fills the session's cache: synthetic weights, Paddle outputs
    onnx_file = str(tmp_path / "p2o-out" / "RegNetX_200MF" / "model.onnx")
    code, _, err, _ = p2o_run([*args, "--onnx", onnx_file], tmp_path, block=True)
    assert code == 2 and "pip install 'p2o-proof[paddle]'" in err, err
