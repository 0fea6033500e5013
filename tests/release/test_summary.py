"""The release's aggregates from typed records: JUnit is red exactly when the release is,
over every way a model can fail; records and summaries load back typed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from p2o.core.results import (
    BenchResult,
    ModelRecord,
    OutputComparison,
    ParityReport,
    ReleaseSummary,
    RuntimeResult,
    Status,
    Timing,
    VerifyResult,
)
from p2o.release import summary as agg


def _out(passed: bool) -> OutputComparison:
    return OutputComparison(
        "logits", 1e-4, passed, "" if passed else "too far", (1, 10), (1, 10),
        min_tolerance=2e-6 if passed else 0.3, max_abs_error=1e-6 if passed else 0.2,
        cosine_similarity=0.99999 if passed else 0.91, top1_agreement=1.0, top5_agreement=1.0,
    )  # fmt: skip


def _rt(name: str, status: str, batch: int = 1) -> RuntimeResult:
    s = {"batch": batch}
    if status == "passed":
        return RuntimeResult.from_outputs(name, [_out(True)], settings=s, seconds=0.5)
    if status == "failed":
        return RuntimeResult.from_outputs(name, [_out(False)], settings=s, seconds=0.5)
    if status == "error":
        return RuntimeResult.error(name, "RuntimeError: boom", settings=s)
    return RuntimeResult.skipped(name, "no NVIDIA GPU", settings=s)


def _verified(model: str, statuses: list[str], strict: bool = False) -> ModelRecord:
    rep = ParityReport(model, 1e-4, "paddle", [_rt(f"rt{i}", s) for i, s in enumerate(statuses)])
    rep = ParityReport(rep.model, rep.tolerance, rep.reference, rep.results, strict)
    v = VerifyResult(rep, "model.onnx", "photos", [1])
    return ModelRecord(
        model, v.status, rep.reason, stage="" if v.passed else "verify",
        stage_seconds={"convert": 3.0, "verify": 1.0, "total": 4.0}, verify=v,
    )  # fmt: skip


def _bench_error(model: str) -> ModelRecord:
    rec = _verified(model, ["passed"])
    bench = BenchResult(
        model, "model.onnx", None, ["ort-cpu"], [1], 2, "fp32", 1, 3, None, {},
        [Timing("ort-cpu", 1, Status.ERROR, "RuntimeError: bench broke")],
    )  # fmt: skip
    rec.bench, rec.status, rec.stage, rec.reason = bench, Status.ERROR, "bench", bench.reason
    return rec


WAYS = {
    "passed": lambda m: _verified(m, ["passed", "passed"]),
    "passed with a skip": lambda m: _verified(m, ["passed", "skipped"]),
    "a failed runtime": lambda m: _verified(m, ["passed", "failed"]),
    "an errored runtime": lambda m: _verified(m, ["error", "passed"]),
    "a strict-mode skip": lambda m: _verified(m, ["passed", "skipped"], strict=True),
    "all runtimes skipped": lambda m: _verified(m, ["skipped", "skipped"]),
    "a convert error": lambda m: ModelRecord(
        m, "error", "paddle2onnx died (SIGABRT)", stage="convert", stage_seconds={"convert": 2.0}
    ),
    "a bench error": _bench_error,
    "a crashed worker": lambda m: ModelRecord(
        m, "error", "worker died: BrokenProcessPool", stage="worker"
    ),
}


def _suites(xml: bytes) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in ET.fromstring(xml).iter("testsuite")}


@pytest.mark.parametrize("way", list(WAYS))
def test_junit_is_red_exactly_when_the_model_is(way, tmp_path):
    rec = WAYS[way]("M")
    passed = way.startswith("passed")
    assert rec.passed is passed
    summary = agg.write_aggregates(tmp_path, [rec], None, 1.0, {})
    assert summary.passed is passed
    suite = _suites((tmp_path / "junit.xml").read_bytes())["p2o.release.M"]
    cases = suite.findall("testcase")
    bad = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert (len(bad) > 0) is (not passed), way
    assert int(suite.get("failures", "0")) + int(suite.get("errors", "0")) == len(bad)
    for c in cases:  # one outcome per case, and per-case times
        assert sum(c.find(t) is not None for t in ("failure", "error", "skipped")) <= 1
    if way == "a strict-mode skip":
        skip = next(c for c in cases if c.get("name") == "rt1[bs=1]")
        assert skip.find("failure") is not None and skip.find("skipped") is None
    if way == "a bench error":
        assert [c.get("name") for c in bad] == ["bench"]
    if way == "passed":
        times = {c.get("name"): c.get("time") for c in cases}
        assert times == {"convert": "3.000", "rt0[bs=1]": "0.500", "rt1[bs=1]": "0.500"}
    release = json.loads(
        (tmp_path / "release.json").read_text(), parse_constant=lambda c: pytest.fail(c)
    )
    assert release["passed"] is passed and release["models"][0]["status"] == rec.status


def test_a_release_of_every_way_is_red_and_loads_back_typed(tmp_path):
    records = [make(f"M{i}") for i, make in enumerate(WAYS.values())]
    summary = agg.write_aggregates(tmp_path, records, {"strict": False}, 2.0, {"jobs": 0})
    assert summary.status is Status.ERROR and summary.exit_code == 1
    suites = _suites((tmp_path / "junit.xml").read_bytes())
    assert len(suites) == len(WAYS)
    back = ReleaseSummary.from_dict(json.loads((tmp_path / "release.json").read_text()))
    assert [r.model for r in back.models] == [r.model for r in records]
    assert isinstance(back.models[2].verify, VerifyResult)
    assert back.models[2].verify.report.results[1].status is Status.FAILED
    assert back.to_dict() == summary.to_dict()


@pytest.mark.slow
def test_a_worker_that_dies_is_an_error_record_and_red_junit(tmp_path, monkeypatch):
    """SIGKILL one model's worker process in the middle of its convert: the release goes on and
    says so, and the worker's temporary folders go too (CI, stop 28: a worker that did not
    stop in time was killed and left ``p2o-convert-*`` in ``$TMPDIR``)."""
    import multiprocessing
    import os
    import signal
    import tempfile
    import threading
    import time

    from p2o import release as rel

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))

    def kill_the_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            kids = [p for p in multiprocessing.active_children() if p.name.startswith("p2o-")]
            if kids and list(tmp.rglob("p2o-convert-*")):
                os.kill(kids[0].pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    options = rel.ReleaseOptions(runtimes=("ort-cpu",), batches=(1,))
    summary = rel.release("RegNetX_200MF", out=tmp_path / "d", options=options, jobs=1)
    killer.join()
    rec = summary.models[0]
    assert rec.status is Status.ERROR and rec.stage == "worker" and "SIGKILL" in rec.reason
    assert rec.stage_seconds["total"] > 0  # the progress line said "(0s)"
    suite = _suites((tmp_path / "d" / "junit.xml").read_bytes())["p2o.release.RegNetX_200MF"]
    assert suite.get("errors") == "1" and suite.find("testcase/error") is not None
    assert (
        not (tmp_path / "d" / ".work").exists() and not (tmp_path / "d" / "RegNetX_200MF").exists()
    )
    assert list(tmp.iterdir()) == []
