"""`p2o verify` of reduced-precision artifacts: the accuracy cost is gated, broken ones fail."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.converter.precision import PrecisionOptions
from p2o.converter.precision.int8 import scale_weight_scale
from p2o.core.errors import CheckFailed
from p2o.parity.verify import REFERENCE

NAME = "RegNetX_200MF"
pytestmark = pytest.mark.slow
ORT = ["--runtimes", "ort-cpu", "--batch", "1"]


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    d = tmp_path_factory.mktemp("int8")
    return convert(ConvertOptions(NAME, out_dir=d / NAME, precision="int8")).onnx_path


@pytest.fixture(scope="module")
def broken(int8, tmp_path_factory):
    m = onnx.load(str(int8))
    scale_weight_scale(m, 4.0)
    path = tmp_path_factory.mktemp("broken") / "model.onnx"
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """12 crops in an ImageFolder whose labels are the Paddle fp32 model's own top-1."""
    import skimage.io

    from p2o.converter.export import export_static
    from p2o.parity.labels import load_labels
    from p2o.runtimes import registry as rt
    from p2o.zoo import create_model, crops

    root = tmp_path_factory.mktemp("labelled")
    staging = root / "staging" / "0"
    staging.mkdir(parents=True)
    for i, c in enumerate(crops.crop_plan("evaluation", 12)):
        img = crops.skimage_photo(c.photo)[c.top : c.top + c.side, c.left : c.left + c.side]
        skimage.io.imsave(staging / f"{i:02d}.png", np.ascontiguousarray(img))
    x = load_labels(root / "staging").load()
    export_static(create_model(NAME), root / "paddle")
    ref = rt.create(REFERENCE, root / "paddle").run(x)
    top1 = np.argmax(next(iter(ref.values())), axis=1)
    folder = root / "images"
    for f, label in zip(sorted(staging.iterdir()), top1, strict=True):
        (folder / str(int(label))).mkdir(parents=True, exist_ok=True)
        f.rename(folder / str(int(label)) / f.name)
    return folder


def test_int8_verify_passes_and_prints_the_accuracy_cost(int8, labelled, capsys) -> None:
    argv = ["verify", "--onnx", str(int8), "--model", NAME, "--batch", "1"]
    assert main([*argv, "--labels", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "judged by the int8 agreement rule" in out
    assert f"against {REFERENCE} fp32" in out
    header = next(ln for ln in out.splitlines() if ln.startswith("runtime"))
    assert header.split() == [  # the rule's own measures, not fp32's element-wise columns
        *("runtime", "batch", "status", "precision", "mean", "cosine", "min", "cosine"),
        *("top-1", "agree", "top-5", "contain", "range", "error", "samples"),
    ]
    assert "64 evaluation crops" in out
    assert f"{REFERENCE} fp32 top-1 100.00%" in out  # labels are the reference's own predictions
    assert "ort-cpu int8: top-1" in out and "openvino int8: top-1" in out


def test_a_broken_weight_scale_fails(int8, broken, capsys) -> None:
    assert main(["verify", "--onnx", str(broken), "--model", NAME, *ORT, "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["passed"] is False and d["precision"]["artifact"] == "int8"
    reason = d["results"][0]["reason"]
    assert "logit range" in reason or "cosine" in reason


def test_accuracy_gate_fails_a_drop_the_agreement_rule_lets_through(
    broken, labelled, capsys
) -> None:
    lax = ["--min-cosine", "0", "--min-top1", "0", "--min-top5", "0", "--max-range-error", "1e9"]
    argv = ["verify", "--onnx", str(broken), "--model", NAME, *ORT, *lax]
    assert main([*argv, "--labels", str(labelled)]) == 0  # no gate: reported only
    capsys.readouterr()
    assert main([*argv, "--labels", str(labelled), "--max-accuracy-drop", "0.5"]) == 1
    assert "top-1 accuracy drop" in capsys.readouterr().out


def test_too_aggressive_calibration_fails(tmp_path, capsys) -> None:
    # ranges from a single crop: the accuracy-aware pass cannot repair it within its budget
    one = PrecisionOptions("int8", calibration_count=1)
    with pytest.raises(CheckFailed, match="still misses the int8 rule"):
        convert(ConvertOptions(NAME, out_dir=tmp_path / "one", precision=one))
    assert not (tmp_path / "one" / "model.onnx").exists()
    # written as it is (the pass off), verify's unchanged rule fails it
    plain = PrecisionOptions("int8", calibration_count=1, accuracy_aware=False)
    path = convert(ConvertOptions(NAME, out_dir=tmp_path / "plain", precision=plain)).onnx_path
    assert main(["verify", "--onnx", str(path), "--model", NAME, *ORT]) == 1
    assert "FAILED" in capsys.readouterr().out


def _has_bf16() -> bool:
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        return False


@pytest.mark.skipif(not _has_bf16(), reason="this CPU has no bf16 for OpenVINO")
def test_bf16_is_gated_on_the_fp32_artifact(tmp_path, capsys) -> None:
    fp32 = convert(ConvertOptions(NAME, out_dir=tmp_path / "fp32")).onnx_path
    argv = ["verify", "--onnx", str(fp32), "--model", NAME, "--batch", "1", "--json"]
    assert main([*argv, "--precision", "bf16"]) == 0
    d = json.loads(capsys.readouterr().out)
    by = {r["runtime"]: r for r in d["results"]}
    assert by["ort-cpu"]["status"] == "skipped" and "no bf16" in by["ort-cpu"]["reason"]
    assert by["openvino"]["status"] == "passed"
    assert by["openvino"]["outputs"][0]["rule"]["precision"] == "bf16"
    assert main([*argv, "--precision", "bf16", "--min-cosine", "0.99999999"]) == 1
