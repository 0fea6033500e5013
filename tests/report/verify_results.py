"""Verify results to render in tests: a pass, a failure, an error, a skip."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from p2o import report
from p2o.core.tolerance import OutputComparison, ParityReport, RuntimeResult
from p2o.parity.verify import VerifyResult
from p2o.report.parity import verify_report


def text_of(res: VerifyResult) -> str:
    return report.text.render(verify_report(res))


def md_of(res: VerifyResult) -> str:
    return report.markdown.render(verify_report(res))


def html_of(res: VerifyResult) -> str:
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
