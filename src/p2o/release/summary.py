"""The release's aggregate files, written atomically once every model is done, and the merge
of shard outputs into one release.

``DIST/release.json`` (``ReleaseSummary``), ``SHA256SUMS``, ``junit.xml``, ``report.md`` and
``report.html``: all drawn from the same typed records.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from p2o import report
from p2o.core import provenance
from p2o.core.errors import UsageError
from p2o.core.files import write_atomic
from p2o.core.results import ModelRecord, ReleaseSummary, dumps_strict, loads_strict
from p2o.core.versions import tool_versions
from p2o.release.plan import out_dir
from p2o.release.worker import RECORD
from p2o.report.release import release_report
from p2o.zoo import list_models

AGGREGATES = ("release.json", "SHA256SUMS", "junit.xml", "report.md", "report.html")


def load_record(dist: Path, name: str) -> ModelRecord | None:
    """The published record of ``name`` in ``dist``; None when absent or unreadable."""
    path = dist / name / RECORD
    if not path.is_file():
        return None
    try:
        return ModelRecord.from_dict(loads_strict(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def remove_aggregates(dist: Path) -> None:
    """Never leave a previous run's aggregates beside a partial set of models."""
    for stale in AGGREGATES:
        (dist / stale).unlink(missing_ok=True)


def checksums(records: list[ModelRecord]) -> str:
    return "".join(
        f"{sha}  {r.model}/{f}\n" for r in records for f, sha in sorted(r.artifacts.items())
    )


def write_aggregates(
    dist: Path,
    records: list[ModelRecord],
    options: dict[str, Any] | None,
    seconds: float,
    run: dict[str, Any],
) -> ReleaseSummary:

    threads = (options or {}).get("threads")
    summary = ReleaseSummary(
        records,
        round(seconds, 1),
        options,
        run,
        tool_versions(),
        provenance=provenance.collect(
            threads=threads if isinstance(threads, int) else None,
            reference="Paddle Inference, per model (each model's record.json: its ONNX SHA-256)",
        ),
    )
    page = release_report(summary)
    write_atomic(dist / "SHA256SUMS", checksums(records).encode())
    write_atomic(dist / "junit.xml", report.junit.render(page, name="p2o.release"))
    report.write(dist / "report.md", page)
    report.write(dist / "report.html", page)
    write_atomic(dist / "release.json", dumps_strict(summary).encode())  # last: "finished"
    return summary


def merge(dists: Sequence[str | Path], out: str | Path) -> ReleaseSummary:
    """Join the model directories of several shard outputs into one release."""
    target = Path(out)
    records: dict[str, ModelRecord] = {}
    sources: dict[str, Path] = {}
    for d in map(Path, dists):
        if not d.is_dir():
            raise UsageError(f"shard output not found: {d}")
        for rec_path in sorted(d.glob(f"*/{RECORD}")):
            rec = load_record(d, rec_path.parent.name)
            if rec is None:
                raise UsageError(f"unreadable model record: {rec_path}")
            if rec.model in records:
                raise UsageError(f"{rec.model} appears in more than one shard output")
            records[rec.model], sources[rec.model] = rec, rec_path.parent
    if not records:
        raise UsageError("no model records in the given shard outputs")
    target = out_dir(target)
    remove_aggregates(target)
    for name, src in sources.items():
        dest = target / name
        if src.resolve() != dest.resolve():
            tmp = target / f".{name}.merge"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)  # whole or not at all

    order = {n: i for i, n in enumerate(list_models())}
    ordered = sorted(records.values(), key=lambda r: order.get(r.model, len(order)))
    run = {"merged_from": [str(d) for d in dists]}
    return write_aggregates(target, ordered, _shared_options(dists), 0.0, run)


def _shared_options(dists: Sequence[str | Path]) -> dict[str, Any] | None:
    """The shards' release options when every shard wrote the same (None otherwise)."""
    seen = []
    for d in map(Path, dists):
        try:
            seen.append(loads_strict((d / "release.json").read_text()).get("options"))
        except (OSError, ValueError, AttributeError):
            return None
    return seen[0] if seen and all(o == seen[0] for o in seen) else None
