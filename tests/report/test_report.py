"""The one report layer: every format from the same typed result; JUnit never looks green
when the verdict is not passed."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from p2o import report
from p2o.core.tolerance import OutputComparison, ParityReport, RuntimeResult
from p2o.parity.verify import VerifyResult
from p2o.report.parity import verify_report


def _text(res: VerifyResult) -> str:
    return report.text.render(verify_report(res))


def _md(res: VerifyResult) -> str:
    return report.markdown.render(verify_report(res))


def _html(res: VerifyResult) -> str:
    return report.html.render(verify_report(res))


def out(passed: bool, max_abs: float = 3e-3, min_tol: float = 0.2) -> OutputComparison:
    return OutputComparison(
        name="logits",
        tolerance=1e-4,
        passed=passed,
        reason="" if passed else "|a-r|/max(|r|, floor) reaches 0.2 > tolerance 0.0001",
        reference_shape=(1, 10),
        actual_shape=(1, 10),
        min_tolerance=min_tol,
        floor=0.1,
        max_abs_error=max_abs,
        max_rel_error=0.5,
        mean_abs_error=1e-3,
        cosine_similarity=0.9871234,
        top1_agreement=1.0,
        top5_agreement=0.0,
        worst_index=(0, 3),
    )


def ok(runtime: str = "ort-cpu", batch: int = 1) -> RuntimeResult:
    timed = {"seconds": 0.25} if "seconds" in RuntimeResult.__dataclass_fields__ else {}
    return RuntimeResult.from_outputs(
        runtime, [out(True, 1e-6, 2e-6)], settings={"batch": batch}, **timed
    )


def failed(runtime: str = "openvino", batch: int = 1) -> RuntimeResult:
    return RuntimeResult.from_outputs(runtime, [out(False)], settings={"batch": batch})


def errored() -> RuntimeResult:
    return RuntimeResult.error("ort-cpu", "RuntimeError: boom", settings={"batch": 1})


def skipped(runtime: str = "ort-cuda") -> RuntimeResult:
    return RuntimeResult.skipped(runtime, "no NVIDIA GPU", settings={"batch": 1})


def result(results: list[RuntimeResult], strict: bool = False) -> VerifyResult:
    rep = ParityReport("Tiny", 1e-4, "paddle", results, strict)
    return VerifyResult(rep, "m.onnx", "8 photos", [1])


def suite_counts(xml: bytes) -> dict[str, int]:
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    counted = {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": sum(c.find("error") is not None for c in cases),
        "skipped": sum(c.find("skipped") is not None for c in cases),
    }
    for k, v in counted.items():
        assert int(suite.get(k, "-1")) == v, k  # the attributes agree with the cases
    for c in cases:  # one outcome per case: never both skipped and failed
        assert sum(c.find(t) is not None for t in ("failure", "error", "skipped")) <= 1
    return counted


CASES = {
    "all passed": ([ok(), ok("openvino")], False, True),
    "a skip, not strict": ([ok(), skipped()], False, True),
    "a failed runtime": ([ok(), failed()], False, False),
    "an errored runtime": ([errored(), ok("openvino")], False, False),
    "a strict-mode skip": ([ok(), skipped()], True, False),
    "all runtimes skipped": ([skipped(), skipped("ort-trt")], False, False),
    "nothing run": ([], False, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_junit_counts_a_failure_exactly_when_the_verdict_is_not_passed(name):
    results, strict, passed = CASES[name]
    res = result(results, strict)
    assert res.report.passed is passed
    c = suite_counts(report.junit.render([verify_report(r) for r in [res]]))
    assert (c["failures"] + c["errors"] > 0) is (not passed)


def test_a_strict_skip_is_a_failure_case_not_a_skip():
    xml = report.junit.render([verify_report(result([ok(), skipped()], strict=True))])
    case = ET.fromstring(xml).find(".//testcase[@name='ort-cuda[bs=1]']")
    assert case is not None
    assert case.find("skipped") is None
    failure = case.find("failure")
    assert failure is not None and "no NVIDIA GPU" in failure.get("message", "")


def test_junit_times_are_per_case():
    xml = report.junit.render([verify_report(result([ok(), failed()]))])
    times = {c.get("name"): c.get("time") for c in ET.fromstring(xml).iter("testcase")}
    assert times == {"ort-cpu[bs=1]": "0.250", "openvino[bs=1]": "0.000"}


def test_a_failed_row_shows_its_numbers_in_every_format():
    res = result([ok(), failed()])
    text = _text(res)
    row = next(ln for ln in text.splitlines() if ln.startswith("openvino"))
    assert "FAILED" in row and "3.00e-03" in row and "0.9871234" in row and "100%" in row
    md = _md(res)
    assert "3.00e-03" in md and "0.9871234" in md
    assert "3.00e-03" in _html(res)
    d = res.to_dict()["results"][1]["outputs"][0]
    assert d["max_abs_error"] == 3e-3  # the same number as the JSON


def test_non_finite_numbers_read_as_words_and_json_stays_strict():
    bad = RuntimeResult.from_outputs("ort-cpu", [out(False, math.inf, math.inf)])
    res = result([bad])
    assert "inf" in _text(res)
    json.loads(json.dumps(res.to_dict()), parse_constant=lambda c: pytest.fail(c))


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_well_formed_and_says_the_verdict():
    page = _html(result([ok(), failed()]))
    p = _Collect()
    p.feed(page)
    text = " ".join(p.text)
    assert "FAILED" in text and "openvino" in text and "reaches 0.2" in text
    assert p.tags.count("tr") == 3  # header + two runtimes


def test_verify_json_with_an_infinite_divergence_is_strict():
    """``p2o verify --json`` wrote ``Infinity`` for the localizer's "off by inf" (e051b5f)."""
    from p2o.parity.localize import Divergence as OldPathDivergence
    from p2o.parity.verify import VerifyResult as OldPathVerifyResult

    div = OldPathDivergence(True, "conv", "Conv2D", "Conv_0", "Conv", math.inf, "", "", 0, 3)
    report = ParityReport("T", 1e-4, "paddle", [RuntimeResult.skipped("a", "none")])
    text = json.dumps(OldPathVerifyResult(report, "m.onnx", "x", [1], div).to_dict())
    assert (
        json.loads(text, parse_constant=lambda c: pytest.fail(c))["divergence"]["rel_error"] is None
    )
