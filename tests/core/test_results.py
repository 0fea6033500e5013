"""The one result model: statuses, the verdict rule, strict JSON and to_dict/from_dict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from p2o.core import results as res
from p2o.core.results import (
    BenchResult,
    Divergence,
    LatencyStats,
    ModelRecord,
    OutputComparison,
    ParityReport,
    RuntimeResult,
    Status,
    Timing,
    VerifyResult,
    verdict,
)


def strict_loads(text: str):
    def refuse(name: str):
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# --- the verdict rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "strict", "expected"),
    [
        (["passed"], False, "passed"),
        (["passed", "skipped"], False, "passed"),
        (["passed", "skipped"], True, "failed"),  # strict: a skip fails
        (["passed", "failed"], False, "failed"),
        (["failed", "error"], False, "error"),  # an error beats a failure
        (["skipped", "error"], True, "error"),
        (["skipped", "skipped"], False, "failed"),  # nothing compared proves nothing
        ([], False, "failed"),
        ([], True, "failed"),
    ],
)
def test_verdict(statuses, strict, expected):
    got = verdict(statuses, strict=strict)
    assert got == expected and isinstance(got, Status)
    assert got is not Status.SKIPPED


def test_status_vocabulary():
    assert [s.value for s in Status] == ["passed", "failed", "error", "skipped"]
    assert Status("ok") is Status.PASSED  # the bench's old word still loads
    assert Status("FAILED") is Status.FAILED
    with pytest.raises(ValueError):
        Status("green")
    with pytest.raises(ValueError):
        RuntimeResult("ort-cpu", "green")
    assert res.exit_code("passed") == 0 and res.exit_code("error") == 1


# --- strict JSON --------------------------------------------------------------------------


def test_non_finite_becomes_null_with_a_flag_and_comes_back():
    obj = {
        "a": math.inf,
        "b": [1.0, math.nan, {"c": -math.inf}],
        "d": np.float32(2.5),
        "e": Status.SKIPPED,
        "f": (1, 2),
    }
    text = res.dumps_strict(obj)
    plain = strict_loads(text)
    assert plain["a"] is None and plain["nonfinite"]["a"] == "inf"
    assert plain["b"][1] is None and plain["nonfinite"]["b[1]"] == "nan"
    assert plain["b"][2] == {"c": None, "nonfinite": {"c": "-inf"}}
    assert plain["e"] == "skipped" and plain["f"] == [1, 2] and plain["d"] == 2.5
    back = res.loads_strict(text)
    assert back["a"] == math.inf and math.isnan(back["b"][1]) and back["b"][2]["c"] == -math.inf
    assert "nonfinite" not in back


def test_loads_strict_refuses_infinity():
    with pytest.raises(ValueError, match="Infinity"):
        res.loads_strict('{"a": Infinity}')


def test_a_bare_non_finite_value_cannot_be_written():
    with pytest.raises(ValueError):
        res.dumps_strict([math.nan])
    with pytest.raises(TypeError):
        res.dumps_strict({"x": object()})


# --- round trips --------------------------------------------------------------------------


def comparison(passed: bool = True, min_tol: float = 2e-6) -> OutputComparison:
    return OutputComparison(
        name="logits",
        tolerance=1e-4,
        passed=passed,
        reason="" if passed else "too far",
        reference_shape=(1, 10),
        actual_shape=[1, 10],  # type: ignore[arg-type]  (a list is normalised)
        min_tolerance=min_tol,
        max_abs_error=1e-6,
        cosine_similarity=0.9999999,
        top1_agreement=1.0,
        top5_agreement=1.0,
        worst_index=(0, 3),
    )


def verify_result() -> VerifyResult:
    results = [
        RuntimeResult.from_outputs(
            "ort-cpu", [comparison()], settings={"batch": 1}, build_seconds=0.1, seconds=0.02
        ),
        RuntimeResult.from_outputs(
            "openvino", [comparison(False, math.inf)], settings={"batch": 4}
        ),
        RuntimeResult.skipped("ort-cuda", "no GPU", settings={"batch": 1}),
        RuntimeResult.error("ort-trt", "boom", settings={"batch": 1}),
    ]
    report = ParityReport("Tiny", 1e-4, "paddle", results, strict=True, output_tolerances={})
    div = Divergence(True, "conv", "Conv2D", "Conv_0", "Conv", math.inf, "", "", 0, 3)
    return VerifyResult(report, "m.onnx", "8 photos", [1, 4], div, None, ["a note"])


def bench_result() -> BenchResult:
    stats = LatencyStats.of([0.010, 0.012, 0.011], 1)
    timings = [
        Timing("paddle", 1, "ok", build_seconds=0.5, latency=stats, samples_ms=[10.0, 12.0, 11.0]),
        Timing("ort-cpu", 1, Status.PASSED, latency=stats, vs_reference=0.5),
        Timing("ort-cuda", 1, "skipped", "no GPU"),
    ]
    return BenchResult(
        "Tiny", "m.onnx", None, ["paddle", "ort-cpu"], [1], 2, "fp32", 1, 3, None,
        {"cpu": "x", "loadavg_1_5_15": [0.1, math.nan]}, timings,
        published=[{"gpu": "T4", "latency_ms": 1.5}],
    )  # fmt: skip


@pytest.mark.parametrize(
    "make",
    [
        comparison,
        lambda: verify_result().report.results[1],
        lambda: verify_result().report,
        verify_result,
        bench_result,
        lambda: bench_result().timings[0],
        lambda: ModelRecord(
            "Tiny",
            "failed",
            "why",
            stage="verify",
            stage_seconds={"total": 1.5},
            verify=verify_result(),
            bench=bench_result(),
            bench_plot="bench.png",
        ),
        lambda: ModelRecord("Tiny", "error", "worker died", stage="worker"),
    ],
)
def test_round_trip_through_strict_json(make):
    obj = make()
    text = res.dumps_strict(obj)
    strict_loads(text)  # no NaN / Infinity
    back = type(obj).from_dict(json.loads(text))
    assert type(back) is type(obj)
    assert res.dumps_strict(back) == text
    assert back.to_dict() == obj.to_dict()


def test_typed_fields_come_back_typed():
    rec = ModelRecord("Tiny", "failed", verify=verify_result(), bench=bench_result())
    back = ModelRecord.from_dict(json.loads(res.dumps_strict(rec)))
    assert back.status is Status.FAILED
    assert isinstance(back.verify, VerifyResult) and isinstance(back.bench, BenchResult)
    r = back.verify.report.results[1]
    assert r.status is Status.FAILED and r.min_tolerance == math.inf
    assert r.outputs[0].reference_shape == (1, 10) and r.outputs[0].worst_index == (0, 3)
    assert back.verify.divergence is not None and back.verify.divergence.rel_error == math.inf
    assert back.bench.timings[0].status is Status.PASSED
    assert back.bench.timings[0].latency == bench_result().timings[0].latency
    assert back.bench.published == [{"gpu": "T4", "latency_ms": 1.5}]
    assert math.isnan(back.bench.machine["loadavg_1_5_15"][1])


def test_reports_derive_status_from_the_rule():
    v = verify_result()
    assert v.status == "error" and not v and v.exit_code == 1
    d = v.to_dict()
    assert d["status"] == "error" and d["passed"] is False and d["counts"]["skipped"] == 1
    assert "ort-cuda[bs=1] skipped: no GPU" in v.report.reason  # strict
    only_skips = ParityReport("T", 1e-4, "paddle", [RuntimeResult.skipped("a", "none")])
    assert only_skips.status == "failed" and "no engine was compared" in only_skips.reason
    b = bench_result()
    assert b.status == "passed" and b.to_dict()["published"]["rows"]


def test_an_agreement_comparison_round_trips_with_its_own_fields():
    """The reduced-precision comparison (p2o.parity.acceptance) keeps its rule and metrics."""
    from p2o.parity import acceptance

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(64, 10)).astype(np.float32)
    act = ref + np.float32(1e-3) * rng.normal(size=ref.shape).astype(np.float32)
    c = acceptance.compare_agreement(ref, act, acceptance.rule_for("fp16"), "logits")
    r = RuntimeResult.from_outputs("ort-cpu", [c], settings={"batch": 1})
    back = RuntimeResult.from_dict(json.loads(res.dumps_strict(r)))
    out = back.outputs[0]
    assert type(out) is type(c) and out.rule == c.rule and out.agreement == c.agreement
    assert out.tolerance == math.inf  # the element-wise bound is off: flagged, put back
    assert back.to_dict() == r.to_dict()
