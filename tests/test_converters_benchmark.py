"""benchmarks/converters.py without Paddle: parsing, model discovery, the table, the exit codes.

The measured run (export, convert, verify) is in docs/converters.md; here only the parts
that need no model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("converters", ROOT / "benchmarks/converters.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["converters"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _paddle_model(folder: Path, program: str = "inference.json") -> Path:
    folder.mkdir(parents=True)
    (folder / program).write_text("{}")
    (folder / "inference.pdiparams").write_bytes(b"")
    return folder


def test_converter_template(bench: ModuleType, tmp_path: Path) -> None:
    conv = bench.Converter.parse(
        "other=/opt/x/conv --opset 17 {model} {params} {out}"
    )  # as argv has it
    assert conv.name == "other"
    model = bench.Model("m", False, _paddle_model(tmp_path / "m"))
    cmd = bench.convert_command(conv, model, tmp_path / "out.onnx")
    assert cmd == [
        "/opt/x/conv",
        "--opset",
        "17",
        str(tmp_path / "m/inference.json"),
        str(tmp_path / "m/inference.pdiparams"),
        str(tmp_path / "out.onnx"),
    ]
    p2o = bench.convert_command(bench.Converter("p2o"), model, tmp_path / "o/model.onnx")
    tail = ["--paddle-model", str(model.folder), "-o", str(tmp_path / "o"), "--overwrite", "-q"]
    assert p2o[-6:] == tail and "convert" in p2o


@pytest.mark.parametrize("spec", ["no-equals", "=cmd {out}", "x=", "x=cmd {model}"])
def test_a_bad_converter_is_refused(bench: ModuleType, spec: str) -> None:
    with pytest.raises(bench.UsageError):
        bench.Converter.parse(spec)


def test_a_folder_of_folders_keeps_only_paddle_models(bench: ModuleType, tmp_path: Path) -> None:
    _paddle_model(tmp_path / "A")
    _paddle_model(tmp_path / "B", "inference.pdmodel")
    (tmp_path / "A.onnx").mkdir()  # a conversion beside it: manifest.json is no program
    (tmp_path / "A.onnx" / "manifest.json").write_text("{}")
    _paddle_model(tmp_path / ".cache")
    assert [d.name for d in bench.paddle_folders(tmp_path)] == ["A", "B"]
    assert bench.paddle_folders(tmp_path / "A") == [tmp_path / "A"]
    assert bench.Model("B", False, tmp_path / "B").program().suffix == ".pdmodel"
    with pytest.raises(bench.UsageError):
        bench.paddle_folders(tmp_path / "A.onnx")


def test_the_table_has_a_row_per_model(bench: ModuleType) -> None:
    convs = [bench.Converter("p2o"), bench.Converter("other", ("c", "{out}"))]
    ok = bench.Cell(convert_seconds=4.2, nodes=104, verify_exit=0, min_tolerance=9.3e-6)
    diverged = bench.Cell(
        convert_seconds=0.05,
        nodes=146,
        verify_exit=1,
        min_tolerance=0.25,
        divergence="hardswish → HardSigmoid `n7`",
    )
    failed = bench.Cell(convert_exit=1, convert_error="Error: Unsupported operator: relu6")
    rows = [
        bench.Row("RegNetX_200MF", {"p2o": ok, "other": diverged}),
        bench.Row("ReXNet_1_0", {"p2o": ok, "other": failed}),
        bench.Row("Broken", error="export failed (exit 1): boom"),
    ]
    lines = bench.table(rows, convs).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].count("|") == lines[2].count("|") == 1 + 1 + 5 * len(convs)
    assert "| 4.20 s | 104 | passed (0) | 9.3e-06 | – |" in lines[2]
    assert "FAILED (1) | 2.5e-01 | hardswish → HardSigmoid `n7` |" in lines[2]
    assert "exit 1: Error: Unsupported operator: relu6 | – |" in lines[3]
    assert lines[4].startswith("| Broken | export failed (exit 1): boom |")


def test_bad_input_exits_2(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--converter", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("converters.py: error: --converter expects")
    assert bench.main(["--converter", "p2o=x {out}", "--models", "RegNetX_200MF"]) == 2
    assert bench.main(["--paddle-model", "/nonexistent/folder"]) == 2


def test_verify_json_is_found_after_stray_output(bench: ModuleType) -> None:
    assert bench.parse_report('{"passed": true}') == {"passed": True}
    assert bench.parse_report('a warning on stdout\n{"passed": false}\n') == {"passed": False}
    assert bench.parse_report("no json here") is None


def test_a_failure_that_is_not_numeric_says_why(bench: ModuleType) -> None:
    numeric = bench.Cell(verify_exit=1, verify_reason="ort-cpu[bs=1] failed: x > tolerance 0.0001")
    assert bench.verdict(numeric) == "FAILED (1)"
    engine = bench.Cell(
        verify_exit=1, verify_reason="openvino[bs=1] error: ReduceProd; ort-cpu[bs=4] failed"
    )
    assert bench.verdict(engine) == "FAILED: openvino[bs=1] error: ReduceProd (1)"
