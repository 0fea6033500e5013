"""A real (small) release: `--strict` with a runtime that is not here exits 1 and junit.xml
counts it; the HTML pages carry the numbers, the latency and links that resolve in DIST."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from p2o.cli import main
from p2o.runtimes import registry as rt
from p2o.runtimes.base import Availability
from tests.report.browser import looks_drawn

MODEL = "RegNetX_200MF"


class Page(HTMLParser):
    """Tables as lists of rows of cell texts; every href and src."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.links: list[str] = []
        self.h1 = ""
        self._cell: list[str] | None = None
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h1":
            self._in_h1 = True
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h1:
            self.h1 += data

    def rows(self) -> list[dict[str, str]]:
        """Every data row of every table as {header: cell}."""
        out = []
        for t in self.tables:
            head, *body = t
            out += [dict(zip(head, r, strict=False)) for r in body]
        return out


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text())
    return p


def assert_links_inside(page: Path, dist: Path, links: list[str]) -> None:
    root = dist.resolve()
    for link in links:
        assert "://" not in link and not link.startswith("/"), link
        target = (page.parent / link).resolve()
        assert target.is_relative_to(root), f"{page}: {link} leaves DIST"
        assert target.exists(), f"{page}: {link} does not exist"


@pytest.mark.slow
def test_strict_release_with_a_missing_runtime_is_red_and_its_pages_say_why(tmp_path, monkeypatch):
    cuda = rt.get("ort-cuda")
    monkeypatch.setattr(  # the same on a machine with a GPU
        cuda, "availability", classmethod(lambda cls: Availability(False, "no NVIDIA GPU (test)"))
    )
    dist = tmp_path / "D"
    args = ["--runtimes", "ort-cpu,ort-cuda", "--strict", "--batch", "1", "--bench", "--jobs", "0"]
    code = main(["release", "--models", MODEL, *args, "--out", str(dist)])
    assert code == 1

    suites = ET.parse(dist / "junit.xml").getroot().findall("testsuite")
    red = sum(int(s.get("failures", "0")) + int(s.get("errors", "0")) for s in suites)
    assert red >= 1  # e051b5f: failures="0" errors="0", a CI would show green
    suite = suites[0]
    assert len(suites) == 1 and suite.get("name") == f"p2o.release.{MODEL}"
    case = suite.find("testcase[@name='ort-cuda[bs=1]']")
    assert case is not None and case.find("failure") is not None and case.find("skipped") is None

    page = parse(dist / "report.html")
    assert "FAILED" in page.h1
    rows = page.rows()
    model_row = next(r for r in rows if r.get("model") == MODEL and "status" in r)
    assert model_row["status"] == "FAILED" and float(model_row["min tol"]) <= 1e-4  # numbers
    grid = next(r for r in rows if r.get("model") == MODEL and "ort-cuda" in r)  # the grid
    assert grid["ort-cpu"].startswith("passed ") and float(grid["ort-cpu"].split()[1]) <= 1e-4
    assert grid["ort-cuda"] == "skipped"
    html_text = (dist / "report.html").read_text()
    assert "<td class='passed'>passed" in html_text and "<td class='skipped'>skipped" in html_text
    assert "latency per model and runtime" in html_text  # the chart, as the bench ran
    for key in ("date (UTC)", "command", "CPU kernel flags", "tools"):
        assert f"<th>{key}</th>" in html_text, key
    assert "strict: yes; bench: yes" in html_text  # words, not Python values
    release = json.loads((dist / "release.json").read_text())
    assert release["provenance"]["utc"] and "openvino" in release["tools"]
    props = {p.get("name") for p in suites[0].iter("property")}
    assert {"date (UTC)", "command", "tools", "CPU"} <= props
    looks_drawn(dist / "report.html", tmp_path / "shot.png")
    cpu = next(r for r in rows if r.get("runtime") == "ort-cpu" and r.get("batch") == "1")
    assert cpu["status"] == "passed"
    for col in ("max abs", "min tol", "cosine", "top-1", "top-5"):
        assert cpu[col] not in ("", "-"), col
    assert float(cpu["min tol"]) <= 1e-4 and float(cpu["cosine"]) > 0.999
    cuda_row = next(r for r in rows if r.get("runtime") == "ort-cuda")
    assert cuda_row["status"] == "SKIPPED (strict)" and "no NVIDIA GPU" in cuda_row["reason"]
    latency = [r for r in rows if "p50 ms" in r and r.get("runtime") == "ort-cpu"]
    assert latency and float(latency[0]["p50 ms"]) > 0
    assert f"{MODEL}/bench.png" in page.links and f"{MODEL}/report.html" in page.links
    assert_links_inside(dist / "report.html", dist, page.links)

    model_page = dist / MODEL / "report.html"
    mp = parse(model_page)
    assert "FAILED" in mp.h1 and "bench.png" in mp.links and "model.onnx" in mp.links
    assert_links_inside(model_page, dist, mp.links)
    md = (dist / MODEL / "report.md").read_text()
    assert "ort-cuda" in md and "(bench.png)" in md

    for f in dist.rglob("*.json"):  # strict JSON: a NaN/Infinity parser rejects none of them
        json.loads(f.read_text(), parse_constant=pytest.fail)
    work = str((dist / ".work").resolve())
    for f in dist.rglob("*"):
        if f.suffix in (".json", ".md", ".html", ".xml") or f.name == "SHA256SUMS":
            text = f.read_text()
            assert ".work" not in text and work not in text, f  # nothing points at the work dir
            assert str(dist.resolve()) not in text, f  # nor anywhere by an absolute path
