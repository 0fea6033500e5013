"""JUnit from the typed result: never green when the verdict is not passed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from p2o import report
from p2o.report.parity import verify_report
from tests.report.verify_results import CASES, failed, ok, result, skipped, suite_counts


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
