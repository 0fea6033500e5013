"""Which reduced precision does each model get? One row per model from releases' records.

Reads ``release.json`` of one or more ``p2o release --precision fp32,int8,bf16 --bench`` runs
(a model in several: the last one given wins) and prints, per model, each precision × CPU
runtime as "speed-up · mean cosine ✓/✗" (speed-up against the same runtime's fp32 in the same
interleaved run; accuracy against Paddle fp32 on the evaluation crops, judged by the
precision's own rule), the nodes the accuracy-aware INT8 pass kept float, and the best
precision that passed at each batch size against ``--target`` (issue 22: 1.8x).

    python benchmarks/reduced_table.py DIST/release.json [DIST2/release.json ...]
        [--target 1.8] [--models NAMES]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from p2o.bench.precisions import speedups
from p2o.core.results import AgreementComparison, ModelRecord, ReleaseSummary, Status
from p2o.report.precision import kept_float_cell

COLUMNS = (("int8", "ort-cpu"), ("int8", "openvino"), ("bf16", "openvino"))


def records(paths: list[str]) -> dict[str, ModelRecord]:
    out: dict[str, ModelRecord] = {}
    for path in paths:
        summary = ReleaseSummary.from_dict(json.loads(Path(path).read_text()))
        out.update({rec.model: rec for rec in summary.models})
    return out


def cell(rec: ModelRecord, precision: str, runtime: str, batch: int) -> tuple[str, float | None]:
    """The cell's text and, when it passed, its speed-up."""
    v = rec.precisions.get(precision)
    rows = [] if v is None else [r for r in v.report.results if r.runtime == runtime]
    if not rows:
        return "-", None
    r = rows[0]
    if r.status is Status.SKIPPED:
        return "skipped", None
    cos = [
        o.agreement.cosine
        for o in r.outputs
        if isinstance(o, AgreementComparison) and o.agreement is not None
    ]
    if not cos:  # convert wrote no artifact (the accuracy-aware pass past its budget), or error
        made = f"no {precision} artifact" not in r.reason
        return ("✗ error" if made else "✗ not made (past the budget)"), None
    bench = speedups(rec.bench).get(batch, {}) if rec.bench is not None else {}
    x = bench.get(f"{runtime} {precision}")
    ok = r.status is Status.PASSED
    speed = "-" if x is None else f"{x:.2f}×"
    return f"{speed} · cos {min(cos):.4f} {'✓' if ok else '✗'}", x if ok else None


def batches(rec: ModelRecord) -> list[int]:
    return sorted(speedups(rec.bench)) if rec.bench is not None else [1]


def table(recs: dict[str, ModelRecord], target: float) -> str:
    head = [f"{p} {rt} (bs=1)" for p, rt in COLUMNS]
    lines = [
        "| model | " + " | ".join(head) + " | kept float | best that passed | ≥ target at |",
        "|---|" + "---|" * (len(head) + 3),
    ]
    met = at_1 = 0
    for name, rec in recs.items():
        cells = [cell(rec, p, rt, 1)[0] for p, rt in COLUMNS]
        best, hit = [], []
        for b in batches(rec):
            passed = [(x, f"{p} {rt}") for p, rt in COLUMNS if (x := cell(rec, p, rt, b)[1])]
            if passed:
                x, label = max(passed)
                best.append(f"bs={b}: {label} {x:.2f}×")
                hit += [f"bs={b}"] if x >= target else []
        int8 = rec.precisions.get("int8")
        kept = kept_float_cell(int8) if int8 is not None else "-"
        met += bool(hit)
        at_1 += "bs=1" in hit
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {kept} | {'; '.join(best) or 'none'} | {', '.join(hit) or '**no**'} |"
        )
    lines.append("")
    lines.append(
        f"{met} of {len(recs)} models reach {target:g}× with a precision that passed "
        f"({at_1} of them at bs=1)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("releases", nargs="+", metavar="release.json")
    p.add_argument("--target", type=float, default=1.8)
    p.add_argument("--models", help="comma-separated names, in this order (default: all)")
    args = p.parse_args(argv)
    recs = records(args.releases)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        missing = [n for n in names if n not in recs]
        if missing:
            print(f"not in these releases: {', '.join(missing)}", file=sys.stderr)
            return 2
        recs = {n: recs[n] for n in names}
    print(table(recs, args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
