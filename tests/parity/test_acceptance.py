"""The per-precision acceptance rule: agreement metrics, thresholds, labels and accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from p2o.core.errors import UsageError
from p2o.core.results import AccuracyResult
from p2o.parity import acceptance
from p2o.parity.acceptance import AgreementRule, Rules, compare_agreement, measure
from p2o.parity.labels import accuracy, load_labels, read_class_list


def logits(n: int = 64, classes: int = 100, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, classes)).astype(np.float32) * 3


def test_identical_outputs_agree_fully() -> None:
    r = logits()
    m = measure(r, r)
    assert (m.samples, m.cosine, m.min_cosine, m.top1, m.top5, m.range_error) == (
        64,
        pytest.approx(1.0),
        pytest.approx(1.0),
        1.0,
        1.0,
        0.0,
    )
    assert acceptance.judge(m, acceptance.rule_for("int8")) == []


def test_small_noise_passes_int8_but_not_fp16() -> None:
    r = logits()
    a = r + np.random.default_rng(1).standard_normal(r.shape).astype(np.float32) * 0.3
    m = measure(r, a)
    assert 0.98 < m.cosine < 0.999
    assert acceptance.judge(m, acceptance.rule_for("int8")) == []
    assert any("cosine" in why for why in acceptance.judge(m, acceptance.rule_for("fp16")))


def test_scaled_logits_fail_on_the_range_although_cosine_and_top1_agree() -> None:
    r = logits()
    m = measure(r, r * 1.5)
    assert m.cosine == pytest.approx(1.0) and m.top1 == 1.0 and m.top5 == 1.0
    misses = acceptance.judge(m, acceptance.rule_for("int8"))
    assert len(misses) == 1 and "logit range" in misses[0]


def test_shuffled_logits_fail_everything_and_too_few_samples_fail() -> None:
    r = logits()
    m = measure(r, r[::-1].copy())
    misses = " ".join(acceptance.judge(m, acceptance.rule_for("int8")))
    for word in ("cosine", "top-1", "top-5", "logit range"):
        assert word in misses
    few = measure(r[:8], r[:8])
    assert "only 8 samples" in acceptance.judge(few, acceptance.rule_for("int8"))[0]
    assert acceptance.judge(few, acceptance.rule_for("int8").with_overrides(min_samples=8)) == []


def test_top5_containment_counts_the_reference_top1_in_the_actual_top5() -> None:
    r = np.zeros((2, 10), np.float32)
    r[:, 0] = 10
    a = r.copy()
    a[0, 0], a[0, 1:6] = 5, 6  # top-1 pushed to 6th place: not contained
    a[1, 0], a[1, 1] = 5, 6  # second place: contained, but not top-1
    m = measure(r, a)
    assert m.top1 == 0.0 and m.top5 == 0.5


def test_rule_validation_and_overrides() -> None:
    with pytest.raises(UsageError, match="min_cosine"):
        AgreementRule("int8", 1.5, 0.5, 0.5, 0.1)
    with pytest.raises(UsageError, match="max_range_error"):
        acceptance.rule_for("int8").with_overrides(max_range_error=float("nan"))
    strict = acceptance.rule_for("int8").with_overrides(min_cosine=0.9999, min_top5=None)
    assert strict.min_cosine == 0.9999 and strict.min_top5 == acceptance.rule_for("int8").min_top5
    with pytest.raises(UsageError, match="unknown precision"):
        acceptance.rule_for("int4")
    assert acceptance.rule_for("fp32") is None


def test_compare_agreement_refuses_nonfinite_and_shape_and_serializes() -> None:
    r = logits()
    bad = r.copy()
    bad[3, 4] = np.nan
    c = compare_agreement(r, bad, acceptance.rule_for("int8"))
    assert not c and "non-finite" in c.reason
    assert not compare_agreement(r, r[:, :50], acceptance.rule_for("int8"))
    ok = compare_agreement(r, r, acceptance.rule_for("int8"))
    assert ok and ok.agreement is not None
    d = json.loads(json.dumps(ok.to_dict(), allow_nan=False))
    assert d["agreement"]["top1"] == 1.0 and d["rule"]["precision"] == "int8"
    assert "mean cosine 1.00000" in acceptance.describe(ok)


def test_rules_pick_the_precision_each_engine_computes_in() -> None:
    int8 = Rules("int8", "fp32")
    assert int8.rule("ort-cpu") == acceptance.rule_for("int8")
    assert int8.rule("paddle-plain") is None  # runs the fp32 Paddle model
    assert int8.engine_precision("ort-trt") == "int8"
    assert int8.engine_precision("ort-cpu") == "fp32"
    bf16 = Rules("fp32", "bf16", {"min_cosine": 0.5})
    assert bf16.rule("openvino") == acceptance.rule_for("bf16").with_overrides(min_cosine=0.5)
    assert Rules("fp32", "fp32").rule("ort-cpu") is None
    assert Rules("fp32", "tf32").rule("ort-cuda") is None
    assert Rules("fp16", "fp32").samples(["ort-cpu", "openvino"]) == 64


def _png(path, seed: int) -> None:
    import skimage.io

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    skimage.io.imsave(path, img, check_contrast=False)


def test_labels_imagefolder_list_file_and_class_list(tmp_path) -> None:
    _png(tmp_path / "folder" / "7" / "a.png", 0)
    _png(tmp_path / "folder" / "3" / "b.png", 1)
    s = load_labels(tmp_path / "folder")
    assert [f.name for f in s.files] == ["b.png", "a.png"] and s.labels.tolist() == [3, 7]
    _png(tmp_path / "named" / "tench" / "c.png", 2)
    with pytest.raises(UsageError, match="class-list"):
        load_labels(tmp_path / "named")
    (tmp_path / "classes.txt").write_text("0 goldfish\n1 tench\n")
    assert read_class_list(tmp_path / "classes.txt") == {"goldfish": 0, "tench": 1}
    assert load_labels(tmp_path / "named", tmp_path / "classes.txt").labels.tolist() == [1]
    (tmp_path / "val.txt").write_text("folder/7/a.png 7\n\nfolder/3/b.png 3\n")
    assert load_labels(tmp_path / "val.txt").labels.tolist() == [7, 3]
    (tmp_path / "bad.txt").write_text("folder/7/a.png seven\n")
    with pytest.raises(UsageError, match=r"bad\.txt:1"):
        load_labels(tmp_path / "bad.txt")
    assert s.load().shape == (2, 3, 224, 224)


def test_accuracy_top1_top5_and_drop_gate() -> None:
    x = np.zeros((4, 10), np.float32)
    x[np.arange(4), [1, 2, 3, 4]] = 5
    x[3, 9] = 6  # the last sample's label is second
    top1, top5 = accuracy(x, np.array([1, 2, 3, 4]))
    assert (top1, top5) == (75.0, 100.0)
    a = AccuracyResult("ort-cpu", "int8", 75.0, 100.0, 100.0, 100.0, 0.5)
    assert a.drop_top1 == 25.0 and not a.passed
    assert AccuracyResult("ort-cpu", "int8", 99.6, 100, 100, 100, 0.5).passed
    with pytest.raises(UsageError, match="outside"):
        accuracy(x, np.array([1, 2, 3, 10]))
