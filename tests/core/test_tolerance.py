"""The parity metrics and the tolerance rule, each checker shown failing where it must."""

from __future__ import annotations

import json

import numpy as np
import pytest

from p2o.core.errors import UsageError
from p2o.core.tolerance import (
    FLOOR_FRACTION,
    OutputComparison,
    ParityReport,
    RuntimeResult,
    compare_all,
    compare_outputs,
)


def logits(n: int = 8, classes: int = 100, seed: int = 0) -> np.ndarray:
    """Classifier-like logits: spread ~3, one clear winner per sample."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, size=(n, classes)).astype(np.float32)
    x[np.arange(n), rng.integers(0, classes, n)] += 12.0
    return x


def strict_json(obj: dict) -> str:
    return json.dumps(obj, allow_nan=False)


# --- the tolerance rule -------------------------------------------------------------------


def test_identical_outputs_pass_even_at_zero_tolerance() -> None:
    r = logits()
    c = compare_outputs(r, r.copy(), 0.0)
    assert c and c.passed and c.reason == ""
    assert c.min_tolerance == 0.0 and c.max_abs_error == 0.0
    assert c.cosine_similarity == pytest.approx(1.0)
    assert c.top1_agreement == 1.0 and c.top5_agreement == 1.0


def test_one_percent_scaled_output_fails_at_1e_4() -> None:
    r = logits()
    c = compare_outputs(r, r * np.float32(1.01), 1e-4, name="logits")
    assert not c
    assert c.min_tolerance == pytest.approx(0.01, rel=1e-4)
    assert "logits" == c.name and "> tolerance" in c.reason
    # Scaling keeps every ranking: the top-k checks cannot see it, the tolerance rule does.
    assert c.top1_agreement == 1.0 and c.top5_agreement == 1.0
    assert c.cosine_similarity == pytest.approx(1.0)
    assert compare_outputs(r, r * np.float32(1.01), 0.0101)


def test_near_zero_values_with_rounding_noise_pass() -> None:
    r = logits()
    r[:, :10] = np.float32(1e-7)  # logits at the rounding-noise level
    r[:, 10:20] = 0.0
    noise = np.random.default_rng(1).uniform(-1e-6, 1e-6, r.shape)  # ~ulps at |r| ~ 10
    a = (r + noise).astype(np.float32)
    c = compare_outputs(r, a, 1e-4)
    assert c, c.reason
    assert c.max_rel_error is not None and c.max_rel_error > 1.0  # plain relative error explodes
    assert c.min_tolerance is not None and c.min_tolerance < 1e-5


def test_floor_is_a_fraction_of_the_output_max() -> None:
    r = np.array([[10.0, 0.5, -0.001]])
    floor = FLOOR_FRACTION * 10.0
    a = r + np.array([[0.0, 0.0, 3e-4]])  # small element: judged against the floor
    c = compare_outputs(r, a, 1e-3)
    assert c.floor == pytest.approx(floor)
    assert c.min_tolerance == pytest.approx(3e-4 / floor, rel=1e-9)
    assert c.worst_index == (0, 2)
    b = r + np.array([[0.0, 0.0, 0.0]])
    b[0, 0] = 10.0 * (1 + 2e-4)  # large element: judged against itself
    assert compare_outputs(r, b, 2e-4 * 1.0001)
    assert not compare_outputs(r, b, 1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_min_tolerance_is_exactly_the_boundary(seed: int) -> None:
    rng = np.random.default_rng(seed)
    r = logits(seed=seed)
    a = (r + rng.normal(0, 1e-3, r.shape)).astype(np.float32)
    c = compare_outputs(r, a, 1.0)
    assert c.min_tolerance is not None and c.min_tolerance > 0
    assert compare_outputs(r, a, c.min_tolerance)
    below = float(np.nextafter(c.min_tolerance, 0.0))
    just_below = compare_outputs(r, a, below)
    assert not just_below
    assert just_below.worst_index == c.worst_index


def test_worst_element_is_reported_with_both_values() -> None:
    r = logits()
    a = r.copy()
    a[5, 42] += 0.5
    c = compare_outputs(r, a, 1e-4)
    assert not c
    assert c.worst_index == (5, 42)
    assert c.worst_reference == pytest.approx(float(r[5, 42]))
    assert c.worst_actual == pytest.approx(float(a[5, 42]))
    assert c.max_abs_error == pytest.approx(0.5, rel=1e-6)
    assert "[5, 42]" in c.reason


# --- shape and finiteness ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref_shape", "act_shape"), [((2, 10), (2, 11)), ((2, 10), (10, 2)), ((1, 10), (10,))]
)
def test_shape_mismatch_fails_at_any_tolerance(ref_shape, act_shape) -> None:
    r = np.zeros(ref_shape, np.float32)
    a = np.zeros(act_shape, np.float32)
    c = compare_outputs(r, a, 1e9)
    assert not c
    assert "shape mismatch" in c.reason
    assert c.reference_shape == ref_shape and c.actual_shape == act_shape
    assert c.min_tolerance is None
    strict_json(c.to_dict())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actual_fails_at_any_tolerance(bad: float) -> None:
    r = logits()
    a = r.copy()
    a[2, 7] = bad
    c = compare_outputs(r, a, 1e9)
    assert not c
    assert c.nonfinite_actual == 1 and c.nonfinite_reference == 0
    assert c.worst_index == (2, 7)
    assert c.min_tolerance == float("inf")
    assert "non-finite" in c.reason and "actual" in c.reason
    d = c.to_dict()
    assert d["min_tolerance"] is None and d["nonfinite"]["min_tolerance"] == "inf"
    assert d["max_abs_error"] == 0.0  # the finite part matched
    strict_json(d)


def test_non_finite_reference_fails() -> None:
    r = logits()
    r[0, 0] = np.nan
    c = compare_outputs(r, r.copy(), 1e9)
    assert not c and c.nonfinite_reference == 1 and "reference" in c.reason


# --- top-k and cosine ----------------------------------------------------------------------


def test_single_flipped_argmax_shows_in_top1() -> None:
    r = logits(n=8)
    a = r.copy()
    first, second = np.argsort(-r[3])[:2]
    a[3, first], a[3, second] = r[3, second], r[3, first]
    c = compare_outputs(r, a, 1e-4)
    assert not c
    assert c.top1_agreement == pytest.approx(7 / 8)
    assert c.top5_agreement == 1.0  # same five classes, in another order
    assert c.cosine_similarity is not None and c.cosine_similarity < 1.0


def test_changed_top5_set_shows_in_top5() -> None:
    r = logits(n=4)
    a = r.copy()
    fifth, sixth = np.argsort(-r[1])[4:6]
    a[1, fifth], a[1, sixth] = r[1, sixth], r[1, fifth]
    c = compare_outputs(r, a, 1e-4)
    assert c.top1_agreement == 1.0
    assert c.top5_agreement == pytest.approx(3 / 4)


def test_cosine_is_the_minimum_over_samples() -> None:
    r = logits(n=4)
    a = r.copy()
    a[2] = -r[2]
    c = compare_outputs(r, a, 1e-4)
    assert c.cosine_similarity == pytest.approx(-1.0)
    assert c.top1_agreement == pytest.approx(3 / 4)


def test_zero_reference_requires_exact_zeros() -> None:
    r = np.zeros((2, 3), np.float32)
    assert compare_outputs(r, r.copy(), 0.0)
    a = r.copy()
    a[1, 1] = 1e-30
    c = compare_outputs(r, a, 1e9)
    assert not c and c.min_tolerance == float("inf")
    assert c.cosine_similarity == 0.0  # a zero vector and a non-zero one


def test_scalar_and_vector_outputs() -> None:
    assert compare_outputs(np.float32(3.0), np.float32(3.0), 0.0)
    assert not compare_outputs(np.float32(3.0), np.float32(3.1), 1e-4)
    v = np.arange(10, dtype=np.float32)
    c = compare_outputs(v, v[::-1].copy(), 1e-4)
    assert not c and c.top1_agreement == 0.0  # a 1-d output is one sample


@pytest.mark.parametrize("bad", [-1e-4, float("nan"), float("inf"), "x"])
def test_invalid_tolerance_is_a_usage_error(bad) -> None:
    with pytest.raises(UsageError):
        compare_outputs(np.zeros(3), np.zeros(3), bad)


# --- several outputs, per-output tolerances ----------------------------------------------


def test_compare_all_pairs_by_name_then_by_position() -> None:
    r = logits()
    by_name = compare_all({"a": r, "b": r}, {"b": r, "a": r * 1.01}, 1e-4)
    assert [c.name for c in by_name] == ["a", "b"]
    assert [bool(c) for c in by_name] == [False, True]
    # Engines name outputs differently (Paddle fetch names vs ONNX names): by position.
    by_position = compare_all({"fetch_0": r}, {"save_infer_model/scale_0": r}, 1e-4)
    assert len(by_position) == 1 and by_position[0] and by_position[0].name == "fetch_0"


def test_compare_all_per_output_override() -> None:
    r = logits()
    ref, act = {"logits": r, "probs": r}, {"logits": r * 1.01, "probs": r * 1.01}
    loose = compare_all(ref, act, 1e-4, overrides={"logits": 0.02})
    assert [bool(c) for c in loose] == [True, False]
    assert loose[0].tolerance == 0.02 and loose[1].tolerance == 1e-4
    with pytest.raises(UsageError, match="unknown output"):
        compare_all(ref, act, 1e-4, overrides={"logit": 0.02})


def test_compare_all_missing_output_fails() -> None:
    r = logits()
    cs = compare_all({"a": r, "b": r}, {"c": r}, 1e-4)
    assert len(cs) == 2 and not any(cs)
    assert all("no matching output" in c.reason for c in cs)


# --- results and the report ---------------------------------------------------------------


def _passing(name: str = "ort-cpu") -> RuntimeResult:
    r = logits()
    return RuntimeResult.from_outputs(
        name, [compare_outputs(r, r, 1e-4)], settings={"threads": 2}, build_seconds=0.1
    )


def _failing(name: str = "openvino") -> RuntimeResult:
    r = logits()
    return RuntimeResult.from_outputs(name, [compare_outputs(r, r * 1.01, 1e-4, "logits")])


def test_runtime_result_status_and_truth() -> None:
    ok, bad = _passing(), _failing()
    assert ok and ok.status == "passed" and ok.min_tolerance == 0.0
    assert not bad and bad.status == "failed" and bad.reason.startswith("logits: ")
    assert not RuntimeResult.skipped("ort-cuda", "no GPU")
    assert not RuntimeResult.error("ort-trt", "fell back to CPU")
    assert not RuntimeResult.from_outputs("x", [])
    with pytest.raises(ValueError):
        RuntimeResult("x", "fine")
    d = ok.to_dict()
    assert d["status"] == "passed" and d["settings"] == {"threads": 2}
    strict_json(d)


def test_report_passes_only_without_failures_or_errors() -> None:
    skipped = RuntimeResult.skipped("ort-cuda", "no GPU")
    report = ParityReport("tiny", 1e-4, "paddle", [_passing(), skipped])
    assert report and report.exit_code == 0 and report.reason == ""
    assert report.counts == {"passed": 1, "failed": 0, "skipped": 1, "error": 0}

    strict = ParityReport("tiny", 1e-4, "paddle", [_passing(), skipped], strict=True)
    assert not strict and strict.exit_code == 1 and "ort-cuda skipped" in strict.reason

    failed = ParityReport("tiny", 1e-4, "paddle", [_passing(), _failing()])
    assert not failed and failed.exit_code == 1 and "openvino failed" in failed.reason

    errored = ParityReport("tiny", 1e-4, "paddle", [_passing(), RuntimeResult.error("x", "boom")])
    assert not errored and errored.exit_code == 1

    nothing = ParityReport("tiny", 1e-4, "paddle", [skipped])
    assert not nothing and "no engine" in nothing.reason

    d = failed.to_dict()
    assert d["passed"] is False and d["exit_code"] == 1 and len(d["results"]) == 2
    strict_json(d)


def test_output_comparison_serializes() -> None:
    c = compare_outputs(logits(), logits(seed=1), 1e-4)
    d = c.to_dict()
    assert set(d) == set(OutputComparison.__dataclass_fields__)
    assert isinstance(d["worst_index"], list) and isinstance(d["reference_shape"], list)
    assert json.loads(strict_json(d)) == d
