"""bench --precisions: variants beside each runtime's fp32 and their speed-ups, same run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from p2o.bench import precisions as pv
from p2o.core.errors import NotApplicable, UsageError


def test_parse_puts_fp32_first_and_refuses_unknown() -> None:
    assert pv.parse("int8,bf16,int8") == ["fp32", "int8", "bf16"]
    with pytest.raises(UsageError, match="int4"):
        pv.parse("int4")


def test_variants_skip_what_a_runtime_cannot_run(tmp_path) -> None:
    f = pv.variant_runners(["paddle", "ort-cpu", "openvino"], ["fp32", "int8", "bf16"], {}, 1)
    assert sorted(f) == ["openvino bf16", "openvino int8", "ort-cpu bf16", "ort-cpu int8"]
    with pytest.raises(NotApplicable, match="no bf16"):
        f["ort-cpu bf16"](tmp_path / "m.onnx")
    with pytest.raises(NotApplicable, match="no int8 artifact"):
        f["ort-cpu int8"](tmp_path / "m.onnx")
    trt = pv.variant_runners(["ort-trt"], ["int8"], {"int8": tmp_path / "q.onnx"}, 1)
    assert trt["ort-trt int8"](tmp_path / "m.onnx").precision == "int8"  # built from QDQ


def _timing(runtime: str, p50: float | None) -> SimpleNamespace:
    lat = None if p50 is None else SimpleNamespace(p50_ms=p50)
    return SimpleNamespace(runtime=runtime, batch=1, latency=lat)


def test_speedups_are_against_the_same_runtime_fp32() -> None:
    result = SimpleNamespace(
        timings=[
            _timing("ort-cpu", 30.0),
            _timing("ort-cpu int8", 10.0),
            _timing("openvino", 20.0),
            _timing("openvino bf16", 40.0),
            _timing("ort-cpu bf16", None),
            _timing("paddle", 50.0),
        ]
    )
    assert pv.speedups(result) == {1: {"ort-cpu int8": 3.0, "openvino bf16": 0.5}}
    assert "ort-cpu int8 3.00x" in pv.speedup_lines(result)[0]


@pytest.mark.slow
def test_bench_cli_shows_the_speedup(tmp_path, capsys) -> None:
    from p2o.cli import main

    argv = ["bench", "--model", "RegNetX_200MF", "--runtimes", "ort-cpu,openvino"]
    argv += ["--precisions", "int8,bf16", "--iters", "2", "--warmup", "1"]
    assert main([*argv, "--work-dir", str(tmp_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    note = next(n for n in d["notes"] if n.startswith("speed-up"))
    assert "ort-cpu int8" in note and "openvino int8" in note
    by = {t["runtime"]: t for t in d["timings"]}
    assert by["ort-cpu bf16"]["status"] == "skipped"
    assert (tmp_path / "RegNetX_200MF-int8" / "manifest.json").is_file()
