"""Verify's page in every format (text, Markdown, HTML, JSON) from the same typed result."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import pytest

from p2o.core.tolerance import ParityReport, RuntimeResult
from tests.report.verify_results import failed, html_of, md_of, ok, out, result, text_of


def test_a_failed_row_shows_its_numbers_in_every_format():
    res = result([ok(), failed()])
    text = text_of(res)
    row = next(ln for ln in text.splitlines() if ln.startswith("openvino"))
    assert "FAILED" in row and "3.00e-03" in row and "0.9871234" in row and "100%" in row
    md = md_of(res)
    assert "3.00e-03" in md and "0.9871234" in md
    assert "3.00e-03" in html_of(res)
    d = res.to_dict()["results"][1]["outputs"][0]
    assert d["max_abs_error"] == 3e-3  # the same number as the JSON


def test_non_finite_numbers_read_as_words_and_json_stays_strict():
    bad = RuntimeResult.from_outputs("ort-cpu", [out(False, math.inf, math.inf)])
    res = result([bad])
    assert "inf" in text_of(res)
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
    page = html_of(result([ok(), failed()]))
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
