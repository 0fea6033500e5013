"""JUnit XML: one test suite per checked table, one test case per row with a case name.

The failure + error count of a suite is non-zero exactly when its verdict is not passed:
each case carries its own outcome (a strict-mode skip is a ``failure``, not a skip), and a
verdict that no case explains (every runtime skipped, nothing compared) gets one more case,
``verdict``, with the reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from p2o.core.results import Status
from p2o.report.table import Report, Row, Table

TAG = {Status.FAILED: "failure", Status.ERROR: "error", Status.SKIPPED: "skipped"}


def _case(suite: ET.Element, classname: str, row: Row) -> str | None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=classname,
        name=row.case,
        time=f"{row.seconds or 0:.3f}",
    )
    tag = TAG.get(row.status) if row.status is not None else None
    if tag is not None:
        el = ET.SubElement(case, tag, message=row.reason[:500])
        if tag != "skipped":
            el.text = row.reason
    return tag


def _suite(parent: ET.Element, t: Table, properties: dict[str, str]) -> None:
    name = t.suite or t.title
    suite = ET.SubElement(parent, "testsuite", name=name)
    if properties:  # what produced the result (provenance), as JUnit suite properties
        props = ET.SubElement(suite, "properties")
        for prop, value in properties.items():
            ET.SubElement(props, "property", name=prop, value=value)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    key = {"failure": "failures", "error": "errors", "skipped": "skipped"}
    rows = [r for r in t.rows if r.case]
    bad = {Status.FAILED, Status.ERROR}
    if t.verdict not in (None, Status.PASSED) and not any(r.status in bad for r in rows):
        status = Status.ERROR if t.verdict is Status.ERROR else Status.FAILED
        rows.append(Row({}, status, "verdict", t.reason or f"verdict: {t.verdict}"))
    for row in rows:
        counts["tests"] += 1
        tag = _case(suite, name, row)
        if tag is not None:
            counts[key[tag]] += 1
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("time", f"{sum(r.seconds or 0 for r in rows):.3f}")


def render(reports: Report | Iterable[Report], name: str = "p2o") -> bytes:
    """The JUnit document of every checked table of ``reports``."""
    items = [reports] if isinstance(reports, Report) else list(reports)
    root = ET.Element("testsuites", name=name)
    for rep in items:
        for t in rep.tables:
            if t.verdict is not None:
                _suite(root, t, rep.provenance)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
