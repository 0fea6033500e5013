"""``release``: the zoo (or a user's list) converted, verified, optionally benchmarked, packaged.

Layout of ``DIST``::

    DIST/<model>/model.onnx, manifest.json, golden.npz, report.md, record.json
    DIST/release.json  SHA256SUMS  junit.xml  report.md  report.html

A model is built in ``DIST/.work/<model>.<pid>/`` and moved to ``DIST/<model>/`` by one
directory rename once every file is written, ``record.json`` last: a killed run leaves
only ``.work`` leftovers (removed by the next run), never a model directory that looks
complete. The aggregate files are written (atomically) when all models are done.

Each model runs in its own process (paddle2onnx and Paddle are not safe to share in one
process); ``jobs=0`` runs in this process, for tests and debugging.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from p2o.errors import P2OError, UsageError
from p2o.results import BenchResult, ModelRecord, Status, dumps_strict, loads_strict, verdict

RECORD = "record.json"
WORK = ".work"
DEFAULT_RUNTIMES = ("ort-cpu", "openvino")
ARTIFACTS = ("model.onnx", "manifest.json", "golden.npz", "report.md", "bench.png")
BENCH_ITERS = 20


@dataclass
class ReleaseOptions:
    tolerance: float = 1e-4
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    batches: tuple[int, ...] = (1, 4)
    bench: bool = False
    strict: bool = False
    seed: int = 0
    opset: int = 17
    simplifier: str = "onnxsim"
    align_groups: int = 0  # p2o convert --align-groups (0: off)

    def __post_init__(self) -> None:
        if self.align_groups == 1 or self.align_groups < 0:
            raise UsageError(
                f"--align-groups wants 0 (off) or a block of >= 2 channels, got {self.align_groups}"
            )

    def key(self) -> dict[str, Any]:
        d = asdict(self)
        d["runtimes"] = list(self.runtimes)
        d["batches"] = list(self.batches)
        return d


# --------------------------------------------------------------------------- model selection


def select_models(spec: str | Sequence[str]) -> list[str]:
    """Names from a pattern, a comma list, or a file with one name or pattern per line."""
    from p2o.zoo import list_models, model_info

    items: list[str] = []
    raw = [spec] if isinstance(spec, str) else list(spec)
    for part in raw:
        path = Path(part)
        if path.is_file():
            lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
            items += [ln for ln in lines if ln]
        else:
            items += [p.strip() for p in part.split(",") if p.strip()]
    names: list[str] = []
    for item in items:
        if any(c in item for c in "*?["):
            found = list_models(item)
            if not found:
                raise UsageError(f"no zoo model matches {item!r}")
            names += found
        else:
            model_info(item)  # UsageError for an unknown name
            names.append(item)
    ordered = list(dict.fromkeys(names))
    if not ordered:
        raise UsageError("no model selected")
    return ordered


def shard(names: list[str], spec: str | None) -> list[str]:
    """``K/N``: the K-th of N disjoint slices (round-robin over the list's order)."""
    if not spec:
        return names
    try:
        k, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise UsageError(f"--shard wants K/N (e.g. 2/4), got {spec!r}") from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard {spec}: need 1 <= K <= N")
    return [name for i, name in enumerate(names) if i % n == k - 1]


# --------------------------------------------------------------------------- one model


def _weights_for(name: str, weights_dir: Path | None) -> str | None:
    if weights_dir is None:
        return None
    for candidate in (f"{name}_pretrained.pdparams", f"{name}.pdparams"):
        if (weights_dir / candidate).is_file():
            return str(weights_dir / candidate)
    raise UsageError(
        f"no weights for {name} in {weights_dir} (expected {name}_pretrained.pdparams)"
    )


def inputs_key(name: str, weights: str | None, options: ReleaseOptions) -> tuple[str, str]:
    """(key, weights sha256): what a finished model's inputs were, for --resume."""
    from p2o.converter.manifest import tool_versions
    from p2o.zoo.weights import sha256_file

    wsha = sha256_file(weights) if weights else f"synthetic(seed={options.seed})"
    blob = json.dumps(
        {"model": name, "weights": wsha, "options": options.key(), "tools": tool_versions()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest(), wsha


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)


def build_model(
    name: str, weights: str | None, options: ReleaseOptions, dist: str
) -> dict[str, Any]:
    """Convert, verify (and bench) one model into its work dir, then publish it. In a worker."""
    from p2o.converter import convert
    from p2o.parity import report as rpt
    from p2o.parity.verify import verify

    key, wsha = inputs_key(name, weights, options)
    rec = ModelRecord(
        name, Status.ERROR, "", key, weights or f"synthetic(seed={options.seed})", wsha
    )
    work = Path(dist) / WORK / f"{name}.{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        res = convert(
            name,
            weights=weights,
            seed=options.seed,
            out_dir=work,
            opset=options.opset,
            simplifier=options.simplifier,
            align_groups=options.align_groups,
        )
        rec.stage_seconds["convert"] = round(time.perf_counter() - t0, 2)
        rec.stage_seconds.update({f"convert.{k}": v for k, v in res.manifest.stage_seconds.items()})
        rec.stage_peak_rss_mb["convert"] = _peak_rss_mb()
        rec.node_counts = dict(res.manifest.node_counts)
        t1 = time.perf_counter()
        result = verify(
            name,
            onnx_file=res.onnx_path,
            weights=weights,
            seed=options.seed,
            tolerance=options.tolerance,
            runtimes=options.runtimes,
            batches=options.batches,
            strict=options.strict,
            save_golden=work / "golden.npz",
        )
        rpt.write_report(work / "report.md", result)
        rec.stage_seconds["verify"] = round(time.perf_counter() - t1, 2)
        rec.stage_peak_rss_mb["verify"] = _peak_rss_mb()
        rec.verify = result
        rec.status, rec.reason, rec.stage = result.status, result.report.reason, "verify"
        if options.bench:
            t2 = time.perf_counter()
            rec.stage = "bench"
            rec.bench = _bench(res.onnx_path, name, weights, options, work)
            rec.bench_plot = "bench.png"
            rec.stage_seconds["bench"] = round(time.perf_counter() - t2, 2)
            rec.stage_peak_rss_mb["bench"] = _peak_rss_mb()
            rec.status = verdict([result.status, rec.bench.status])
            rec.reason = result.report.reason or rec.bench.reason
        if rec.status is Status.PASSED:
            rec.stage = ""
    except P2OError as exc:
        rec.status = Status.FAILED if exc.exit_code == 1 else Status.ERROR
        rec.reason, rec.stage = str(exc), rec.stage or "convert"
    except Exception as exc:  # a crash of one model must not stop the release
        rec.status, rec.reason = Status.ERROR, f"{type(exc).__name__}: {exc}"
        rec.stage = rec.stage or "convert"
        if os.environ.get("P2O_DEBUG"):
            traceback.print_exc()
    rec.stage_seconds["total"] = round(time.perf_counter() - t0, 2)
    from p2o.zoo.weights import sha256_file

    rec.artifacts = {f: sha256_file(work / f) for f in ARTIFACTS if (work / f).is_file()}
    (work / RECORD).write_text(dumps_strict(rec))
    final = Path(dist) / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)  # one rename: the model dir appears complete or not at all
    return rec.to_dict()


def _bench(
    onnx_path: Path, name: str, weights: str | None, options: ReleaseOptions, work: Path
) -> BenchResult:
    from p2o.parity import latency
    from p2o.parity.plot import plot_latency

    result = latency.benchmark(
        name,
        onnx_file=onnx_path,
        weights=weights,
        seed=options.seed,
        runtimes=("paddle", *options.runtimes),
        batches=options.batches,
        iters=BENCH_ITERS,
    )
    plot_latency([result], work / "bench.png")
    return result


def _worker(args: tuple[str, str | None, dict[str, Any], str]) -> dict[str, Any]:
    import warnings

    name, weights, opts, dist = args
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how to stop
    warnings.filterwarnings("ignore", message="No ccache found")
    options = ReleaseOptions(
        **{**opts, "runtimes": tuple(opts["runtimes"]), "batches": tuple(opts["batches"])}
    )
    return build_model(name, weights, options, dist)


# --------------------------------------------------------------------------- the run


def load_record(dist: Path, name: str) -> ModelRecord | None:
    path = dist / name / RECORD
    if not path.is_file():
        return None
    try:
        return ModelRecord.from_dict(loads_strict(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextlib.contextmanager
def _terminate_on_signals() -> Iterator[None]:
    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class Progress:
    """A progress bar on a terminal, plain lines in CI logs (stderr either way)."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, rec: ModelRecord) -> None:
        self.done += 1
        secs = rec.stage_seconds.get("total", 0.0)
        state = "up to date (resumed)" if rec.skipped_resume else rec.status
        line = f"[{self.done}/{self.total}] {rec.model}: {state} ({secs:.0f}s)"
        if rec.status != "passed" and rec.reason:
            line += f" — {rec.reason.splitlines()[0][:160]}"
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r\033[K{line}\n[{bar}] {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def release(
    models: str | Sequence[str],
    *,
    out: str | Path = "dist",
    weights_dir: str | Path | None = None,
    options: ReleaseOptions | None = None,
    jobs: int = 1,
    shard_spec: str | None = None,
    resume: bool = False,
    progress: Callable[[ModelRecord], None] | None = None,
) -> dict[str, Any]:
    """Run the release; returns the ``release.json`` content (``passed`` is the verdict)."""
    options = options or ReleaseOptions()
    from p2o.parity.compare import check_tolerance
    from p2o.runtimes import registry as rt

    check_tolerance(options.tolerance)
    for r in options.runtimes:
        rt.get(r)
    if jobs < 0:
        raise UsageError(f"--jobs must be >= 0, got {jobs}")
    names = shard(select_models(models), shard_spec)
    dist = Path(out)
    wdir = Path(weights_dir) if weights_dir else None
    if wdir is not None and not wdir.is_dir():
        raise UsageError(f"weights dir not found: {wdir}")
    plan = [(n, _weights_for(n, wdir)) for n in names]
    dist.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dist / WORK, ignore_errors=True)  # leftovers of a killed run
    for stale in ("release.json", "SHA256SUMS", "junit.xml", "report.md", "report.html"):
        (dist / stale).unlink(missing_ok=True)  # never beside a partial set of models

    bar = Progress(len(plan))
    report = progress or bar.update
    records: dict[str, ModelRecord] = {}
    todo = []
    for name, weights in plan:
        old = load_record(dist, name) if resume else None
        if (
            old is not None
            and old.passed
            and old.inputs_key == inputs_key(name, weights, options)[0]
        ):
            old.skipped_resume = True
            records[name] = old
            report(old)
        else:
            todo.append((name, weights))

    t0 = time.perf_counter()
    with _terminate_on_signals():
        if jobs == 0:
            for name, weights in todo:
                records[name] = ModelRecord.from_dict(
                    build_model(name, weights, options, str(dist))
                )
                report(records[name])
        elif todo:
            ctx = multiprocessing.get_context("spawn")
            pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1)
            try:
                futures = {
                    pool.submit(_worker, (n, w, options.key(), str(dist))): n for n, w in todo
                }
                for fut in cf.as_completed(futures):
                    name = futures[fut]
                    try:
                        records[name] = ModelRecord.from_dict(fut.result())
                    except Exception as exc:  # the worker process died
                        records[name] = ModelRecord(
                            name, Status.ERROR, f"worker died: {exc!r}", stage="worker"
                        )
                    report(records[name])
            except BaseException:
                for p in list(getattr(pool, "_processes", {}).values()):
                    p.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                shutil.rmtree(dist / WORK, ignore_errors=True)
                raise
            pool.shutdown()
    shutil.rmtree(dist / WORK, ignore_errors=True)
    ordered = [records[n] for n, _ in plan]
    return write_aggregates(
        dist,
        ordered,
        options,
        time.perf_counter() - t0,
        {"shard": shard_spec, "jobs": jobs, "models": names},
    )


# --------------------------------------------------------------------------- aggregates


def write_aggregates(
    dist: Path,
    records: list[ModelRecord],
    options: ReleaseOptions | None,
    seconds: float,
    run: dict[str, Any],
) -> dict[str, Any]:
    from p2o.converter.manifest import tool_versions, write_atomic

    passed = bool(records) and all(r.passed for r in records)
    summary = {
        "format": "p2o-release/1",
        "passed": passed,
        "status": verdict(r.status for r in records),
        "counts": {s: sum(r.status == s for r in records) for s in ("passed", "failed", "error")},
        "seconds": round(seconds, 1),
        "options": options.key() if options else None,
        "run": run,
        "tools": tool_versions(),
        "models": [r.to_dict() for r in records],
    }
    sums = "".join(
        f"{sha}  {r.model}/{f}\n" for r in records for f, sha in sorted(r.artifacts.items())
    )
    write_atomic(dist / "SHA256SUMS", sums.encode())
    write_atomic(dist / "junit.xml", junit(records))
    write_atomic(dist / "report.md", markdown(records, summary).encode())
    write_atomic(dist / "report.html", html_page(records, summary).encode())
    write_atomic(dist / "release.json", dumps_strict(summary).encode())
    return summary


def merge(dists: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    """Join the model directories of several shard outputs into one release."""
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    records: dict[str, ModelRecord] = {}
    for d in map(Path, dists):
        if not d.is_dir():
            raise UsageError(f"shard output not found: {d}")
        for rec_path in sorted(d.glob(f"*/{RECORD}")):
            rec = ModelRecord.from_dict(loads_strict(rec_path.read_text()))
            if rec.model in records:
                raise UsageError(f"{rec.model} appears in more than one shard output")
            records[rec.model] = rec
            if d.resolve() != target.resolve():
                dest = target / rec.model
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.copytree(rec_path.parent, dest)
    if not records:
        raise UsageError("no model records in the given shard outputs")
    from p2o.zoo import list_models

    order = {n: i for i, n in enumerate(list_models())}
    ordered = sorted(records.values(), key=lambda r: order.get(r.model, len(order)))
    return write_aggregates(target, ordered, None, 0.0, {"merged_from": [str(d) for d in dists]})


def junit(records: list[ModelRecord]) -> bytes:
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="p2o.release")
    suite = ET.SubElement(suites, "testsuite", name="p2o.release")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for rec in records:
        results = [r.to_dict() for r in rec.verify.report.results] if rec.verify else []
        cases = results or [
            {"runtime": "convert", "status": rec.status, "reason": rec.reason, "settings": {}}
        ]
        for r in cases:
            counts["tests"] += 1
            batch = r.get("settings", {}).get("batch")
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"p2o.release.{rec.model}",
                name=f"{r['runtime']}" + (f"[bs={batch}]" if batch else ""),
                time=str(rec.stage_seconds.get("total", 0)),
            )
            status, reason = r["status"], r.get("reason") or rec.reason
            if status == "failed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=reason[:500]).text = reason
            elif status == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=reason[:500]).text = reason
            elif status == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=reason[:500])
    for k, v in counts.items():
        suite.set(k, str(v))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def _row(rec: ModelRecord) -> dict[str, str]:
    results = rec.verify.report.results if rec.verify else []
    numeric = [r.min_tolerance for r in results if r.min_tolerance is not None]
    s = rec.stage_seconds
    return {
        "model": rec.model,
        "status": rec.status if rec.passed else rec.status.upper(),
        "min tol": f"{max(numeric):.1e}" if numeric else "-",
        "nodes": " → ".join(str(v) for v in rec.node_counts.values()) or "-",
        "convert s": f"{s.get('convert', 0):.1f}",
        "verify s": f"{s.get('verify', 0):.1f}",
        "bench s": f"{s.get('bench', 0):.1f}" if "bench" in s else "-",
        "total s": f"{s.get('total', 0):.1f}",
        "peak MB": f"{max(rec.stage_peak_rss_mb.values(), default=0):.0f}",
        "reason": (rec.reason.splitlines()[0][:120] if rec.reason else ""),
    }


def markdown(records: list[ModelRecord], summary: dict[str, Any]) -> str:
    rows = [_row(r) for r in records]
    cols = list(rows[0]) if rows else []
    c = summary["counts"]
    out = [
        f"# p2o release — {'PASSED' if summary['passed'] else 'FAILED'}",
        "",
        f"{c['passed']} passed, {c['failed']} failed, {c['error']} errors; {summary['seconds']} s",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    out += ["| " + " | ".join(r[k].replace("|", "/") for k in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def html_page(records: list[ModelRecord], summary: dict[str, Any]) -> str:
    import html

    rows = [_row(r) for r in records]
    cols = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(k)}</th>" for k in cols)
    body = "".join(
        f"<tr style='background:{'#d7f5dd' if r['status'] == 'passed' else '#f9d0d0'}'>"
        + "".join(f"<td>{html.escape(r[k])}</td>" for k in cols)
        + "</tr>"
        for r in rows
    )
    verdict = "PASSED" if summary["passed"] else "FAILED"
    plots = "".join(
        f"<h3>{html.escape(r.model)}</h3><img src='{html.escape(r.model)}/bench.png'>"
        for r in records
        if r.bench_plot
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>p2o release</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:3px 6px;font-size:13px}</style></head><body>"
        f"<h1>p2o release — {verdict}</h1><table><tr>{head}</tr>{body}</table>{plots}"
        "</body></html>\n"
    )
