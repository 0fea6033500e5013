"""`p2o release --precision fp32,int8`: each precision made, verified, reported side by side."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from p2o.bench.precisions import speedups
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
    # benchmarks/reduced_table.py: the row of the 35-model table (docs/precision.md)
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "reduced_table.py"
    spec = importlib.util.spec_from_file_location("reduced_table", script)
    assert spec is not None and spec.loader is not None
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    text = table.table(table.records([str(dist / "release.json")]), target=1.0)
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {MODEL} |"))
    ratios = speedups(rec.bench)[1]  # {"ort-cpu int8": x, "openvino int8": y}
    assert all(f"| {x:.2f}× · cos " in line for x in ratios.values())
    (runtime, precision), x = max(((k.split(), v) for k, v in ratios.items()), key=lambda t: t[1])
    assert line.count("✓") == len(ratios)  # both engines passed the int8 rule
    best = f"bs=1: {precision} {runtime} {x:.2f}×"
    tail = f"| {len(kept.kept_float)} of {kept.reduced_nodes} | {best} | bs=1 |"
    assert line.endswith(tail)


@pytest.mark.slow
def test_an_int8_convert_that_gives_up_is_recorded_and_the_next_precision_still_runs(
    tmp_path, monkeypatch
) -> None:
    """ReXNet's case, forced on a small model (in this process, as the worker runs it): the
    accuracy-aware INT8 pass past its budget. The release records int8 as failed with the
    per-layer table and still makes and verifies fp16."""
    from p2o.converter.precision import layer_error
    from p2o.core.results import LayerError, LayerErrorReport, Status
    from p2o.release import precision as release_precision
    from p2o.release.summary import write_aggregates
    from p2o.release.worker import build_model

    table = LayerErrorReport(
        "int8",
        "the fp32 model",
        "64 calibration crops",
        64,
        [LayerError("Conv.3", "Conv", "conv3", 0.95, 0.9, 0.3, 0.97, 0.02, kept_float=True)],
        61,
    )
    real = release_precision.convert

    def convert(options):
        if options.precision.precision == "int8":  # the release passes PrecisionOptions
            raise layer_error.BudgetExceeded("int8: keeping 6 of 61 ... (top-1 0.61 < 0.7)", table)
        return real(options)

    monkeypatch.setattr(release_precision, "convert", convert)
    dist = tmp_path / "dist"
    options = ReleaseOptions(
        runtimes=("ort-cpu",), batches=(1,), precisions=("fp32", "int8", "fp16"), bench=True
    )
    rec = build_model(MODEL, None, options, str(dist))
    assert list(rec.precisions) == ["int8", "fp16"]  # fp16 still made and verified
    int8 = rec.precisions["int8"]
    assert int8.status is Status.FAILED and "no int8 artifact" in int8.report.reason
    assert int8.layer_errors == table
    assert rec.precisions["fp16"].status is Status.PASSED
    assert rec.status is Status.FAILED and rec.stage == "precision"  # not "bench", run after
    assert rec.reason.startswith("int8: ") and "no int8 artifact: keeping 6 of 61" in rec.reason
    assert not (dist / MODEL / "int8").exists()
    assert not any(f.startswith("int8/") for f in rec.artifacts)
    write_aggregates(dist, [rec], options.key(), 1.0, {})
    page = (dist / "report.md").read_text()
    row = next(ln for ln in page.splitlines() if "| FAILED | 2." in ln)  # the models table
    assert "| fp16 ort-cpu " in row  # the best reduced precision that passed, its speed-up
    assert row.split("| fp16 ort-cpu ")[1].startswith(tuple("0123456789"))
    kept = next(ln for ln in page.splitlines() if ln.startswith("| int8 | ort-cpu |"))
    assert "| FAILED |" in kept and "| 1 of 61 tried | no int8 artifact: keeping 6" in kept
    own = (dist / MODEL / "report.md").read_text()  # the model's page shows which nodes cost it
    assert "per-layer error (int8), largest first" in own and "| Conv.3 | Conv |" in own


def test_the_int8_budget_is_an_option_and_part_of_the_resume_key_only_when_changed() -> None:
    from p2o.core.errors import UsageError

    assert "max_float" not in ReleaseOptions(precisions=("fp32", "int8")).key()
    key = ReleaseOptions(precisions=("fp32", "int8"), max_float=0.3).key()
    assert key["max_float"] == 0.3 and ReleaseOptions.from_key(key).max_float == 0.3
    with pytest.raises(UsageError, match="--max-float"):
        ReleaseOptions(max_float=1.5)
    assert main(["release", "--models", MODEL, "--max-float", "2"]) == 2
