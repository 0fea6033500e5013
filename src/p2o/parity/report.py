"""Parity reports: a terminal table, JUnit XML for CI systems, Markdown and HTML."""

from __future__ import annotations

import html
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from p2o.parity.compare import RuntimeResult


def _fmt(v: Any, spec: str = ".2e") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return format(v, spec)


def rows(results: list[RuntimeResult]) -> list[dict[str, str]]:
    out = []
    for r in results:
        o = r.outputs[0] if r.outputs else None
        out.append(
            {
                "runtime": r.runtime,
                "batch": str(r.settings.get("batch", "-")),
                "status": r.status.upper() if r.status in ("failed", "error") else r.status,
                "max abs": _fmt(o.max_abs_error if o else None),
                "max rel": _fmt(o.max_rel_error if o else None),
                "mean abs": _fmt(o.mean_abs_error if o else None),
                "cosine": _fmt(o.cosine_similarity if o else None, ".7f"),
                "top-1": _fmt(o.top1_agreement if o else None, ".0%"),
                "top-5": _fmt(o.top5_agreement if o else None, ".0%"),
                "min tol": _fmt(r.min_tolerance),
                "worst at": "-" if not o or o.worst_index is None else str(list(o.worst_index)),
                "reason": r.reason,
            }
        )
    return out


def table(result: Any) -> str:
    """The human table (``result`` is a ``VerifyResult``)."""
    rep = result.report
    data = rows(rep.results)
    cols = [c for c in (data[0] if data else {}) if c != "reason"]
    widths = {c: max(len(c), *(len(r[c]) for r in data)) for c in cols}
    lines = [
        f"model {rep.model}: {result.onnx_file}",
        f"reference {rep.reference}; inputs: {result.inputs}; batches {result.batches}; "
        f"tolerance {rep.tolerance:g} (per element |a-r| <= tol * max(|r|, 0.1*max|r|))",
        "  ".join(c.ljust(widths[c]) for c in cols),
        "  ".join("-" * widths[c] for c in cols),
    ]
    for r in data:
        lines.append("  ".join(r[c].ljust(widths[c]) for c in cols))
    for r in data:
        if r["reason"]:
            lines.append(f"  {r['runtime']} bs={r['batch']}: {r['reason']}")
    if result.divergence is not None:
        lines.append(result.divergence.describe())
    for note in result.notes:
        lines.append(f"note: {note}")
    verdict = "PASSED" if rep.passed else "FAILED"
    c = rep.counts
    lines.append(
        f"{verdict}: {c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
        f"{c['skipped']} skipped{' (strict: skipped counts as failure)' if rep.strict else ''}"
    )
    return "\n".join(lines)


def junit(results_by_model: list[Any]) -> bytes:
    """JUnit XML: one test suite per model, one test case per runtime and batch size."""
    suites = ET.Element("testsuites", name="p2o")
    for result in results_by_model:
        rep = result.report
        suite = ET.SubElement(suites, "testsuite", name=f"p2o.verify.{rep.model}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for r in rep.results:
            counts["tests"] += 1
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"p2o.verify.{rep.model}",
                name=f"{r.runtime}[bs={r.settings.get('batch', '-')}]",
                time=f"{r.build_seconds or 0:.3f}",
            )
            if r.status == "failed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=r.reason[:500]).text = r.reason
            elif r.status == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=r.reason[:500]).text = r.reason
            elif r.status == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=r.reason[:500])
                if rep.strict:
                    counts["failures"] += 1
                    ET.SubElement(case, "failure", message=f"strict: skipped ({r.reason})")
        for k, v in counts.items():
            suite.set(k, str(v))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def markdown(result: Any) -> str:
    rep = result.report
    data = rows(rep.results)
    cols = list(data[0]) if data else []
    out = [
        f"# p2o verify: {rep.model} — {'PASSED' if rep.passed else 'FAILED'}",
        "",
        f"- ONNX file: `{result.onnx_file}`",
        f"- reference: {rep.reference}; inputs: {result.inputs}; batch sizes {result.batches}",
        f"- tolerance {rep.tolerance:g}: every element |a − r| ≤ tol · max(|r|, 0.1 · max|r|)",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    out += ["| " + " | ".join(r[c].replace("|", "/") for c in cols) + " |" for r in data]
    if result.divergence is not None:
        out += ["", f"**{result.divergence.describe()}**"]
    return "\n".join(out) + "\n"


def html_page(result: Any) -> str:
    rep = result.report
    data = rows(rep.results)
    cols = list(data[0]) if data else []
    color = {"passed": "#d7f5dd", "FAILED": "#f9d0d0", "ERROR": "#f9d0d0", "skipped": "#eee"}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        f"<tr style='background:{color.get(r['status'], '#fff')}'>"
        + "".join(f"<td>{html.escape(r[c])}</td>" for c in cols)
        + "</tr>"
        for r in data
    )
    div = (
        ""
        if result.divergence is None
        else f"<p><b>{html.escape(result.divergence.describe())}</b></p>"
    )
    verdict = "PASSED" if rep.passed else "FAILED"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>p2o verify {html.escape(rep.model)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:3px 6px;font-size:13px}</style></head><body>"
        f"<h1>p2o verify: {html.escape(rep.model)} — {verdict}</h1>"
        f"<p>ONNX file <code>{html.escape(result.onnx_file)}</code>; reference "
        f"{html.escape(rep.reference)}; inputs: {html.escape(result.inputs)}; tolerance "
        f"{rep.tolerance:g}</p><table><tr>{head}</tr>{body}</table>{div}</body></html>\n"
    )


def write_text_atomic(path: str | Path, text: str | bytes) -> None:
    from p2o.converter.manifest import write_atomic

    p = Path(path)
    if p.parent and not p.parent.exists():
        os.makedirs(p.parent, exist_ok=True)
    write_atomic(p, text.encode() if isinstance(text, str) else text)


def write_report(path: str | Path, result: Any) -> None:
    suffix = Path(path).suffix.lower()
    if suffix in (".html", ".htm"):
        write_text_atomic(path, html_page(result))
    else:
        write_text_atomic(path, markdown(result))
