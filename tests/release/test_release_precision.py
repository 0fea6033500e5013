"""`p2o release --precision fp32,int8`: each precision made, verified, reported side by side."""

from __future__ import annotations

import json

import pytest

from p2o.cli import main
from p2o.core.results import ReleaseSummary
from p2o.release.plan import ReleaseOptions

MODEL = "RegNetX_200MF"


def test_precisions_are_part_of_the_resume_key_only_when_given() -> None:
    assert "precisions" not in ReleaseOptions().key()  # a release made before the option
    key = ReleaseOptions(precisions=("fp32", "int8")).key()
    assert key["precisions"] == ["fp32", "int8"]
    assert ReleaseOptions.from_key(key).precisions == ("fp32", "int8")
    assert ReleaseOptions.from_key(ReleaseOptions().key()).precisions == ("fp32",)


@pytest.mark.slow
def test_release_int8_beside_fp32(tmp_path, capsys) -> None:
    dist = tmp_path / "dist"
    argv = ["release", "--models", MODEL, "--precision", "fp32,int8", "--bench"]
    assert main([*argv, "--batch", "1", "--out", str(dist)]) == 0
    capsys.readouterr()
    assert (dist / MODEL / "int8" / "model.onnx").is_file()
    sums = (dist / "SHA256SUMS").read_text()
    assert f"{MODEL}/int8/model.onnx" in sums and f"{MODEL}/int8/manifest.json" in sums
    summary = ReleaseSummary.from_dict(json.loads((dist / "release.json").read_text()))
    rec = summary.models[0]
    assert set(rec.precisions) == {"int8"}  # bf16 needs a CPU with it: tested in verify
    assert rec.precisions["int8"].precision.artifact == "int8"
    ort = rec.precisions["int8"].report.results[0]
    assert ort.outputs[0].agreement is not None  # the accuracy cost survives the record
    page = (dist / "report.md").read_text()
    assert "precisions (accuracy cost vs Paddle fp32, speed-up" in page
    row = next(ln for ln in page.splitlines() if ln.startswith("| int8 | ort-cpu |"))
    assert "passed" in row and row.count("x |") == 1  # a speed-up beside the cosine
    kept = rec.precisions["int8"].layer_errors  # accuracy-aware INT8: what stayed float
    assert kept is not None and kept.reduced_nodes > 0
    assert row.rstrip(" |").endswith(f"{len(kept.kept_float)} of {kept.reduced_nodes}")
    assert f"({'int8/model.onnx'})" in (dist / MODEL / "report.md").read_text()  # linked
