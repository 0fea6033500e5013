"""Verify's page in every format (text, Markdown, HTML, JSON) from the same typed result."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from p2o import report
from p2o.core import provenance
from p2o.core.results import VerifyResult
from p2o.core.tolerance import ParityReport, RuntimeResult
from p2o.report.parity import verify_report
from tests.report.browser import looks_drawn
from tests.report.verify_results import failed, html_of, md_of, ok, out, result, skipped, text_of


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


def test_provenance_is_in_every_format() -> None:
    res = result([ok(), failed()])
    res.provenance = provenance.collect(threads=3, onnx_sha256="ab" * 32, reference="zoo Tiny")
    page = verify_report(res)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["provenance"]["threads"] == 3 and d["provenance"]["onnx_sha256"] == "ab" * 32
    assert d["provenance"]["utc"].endswith("+00:00") and d["provenance"]["versions"]["onnx"]
    assert "openvino" in d["provenance"]["versions"]  # an engine that judged the model
    props = {
        p.get("name"): p.get("value")
        for p in ET.fromstring(report.junit.render(page)).iter("property")
    }
    assert props["threads"] == "3" and props["ONNX SHA-256"] == "ab" * 32 and props["date (UTC)"]
    html_page, md = html_of(res), md_of(res)
    for key in ("date (UTC)", "command", "tools", "CPU", "CPU kernel flags", "ONNX SHA-256"):
        assert key in html_page and key in md
    assert (
        VerifyResult.from_dict(json.loads(json.dumps(res.to_dict()))).provenance == res.provenance
    )


def test_the_verify_page_draws_each_runtime_against_the_tolerance() -> None:
    page = html_of(result([ok(), failed()]))
    figure = page[page.index("<figure>") : page.index("</figure>")]
    svg = ET.fromstring(figure[figure.index("<svg") : figure.index("</svg>") + 6])
    ns = "{http://www.w3.org/2000/svg}"
    dots = svg.findall(f".//{ns}circle")
    assert len(dots) == 2  # one per runtime row
    colors = {d.get("fill") for d in dots}
    assert len(colors) == 2  # passed and failed are told apart
    texts = "".join(t.text or "" for t in svg.iter(f"{ns}text"))
    assert "tolerance 1.0e-04" in texts and "ort-cpu" in texts and "openvino" in texts
    assert "Figure: " in md_of(result([ok()]))  # Markdown says where the picture is


def test_the_verify_page_renders_in_a_browser(tmp_path) -> None:
    page = tmp_path / "r.html"
    page.write_text(html_of(result([ok(), failed(), skipped()])))
    if not looks_drawn(page, tmp_path / "r.png"):
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
