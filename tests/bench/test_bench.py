"""``p2o bench``: statistics under an injected clock, interleaving, bad input, reports, plots."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from p2o import bench, report
from p2o.bench import (
    PUBLISHED_LABEL,
    BenchResult,
    LatencyStats,
    Split,
    Timing,
    interleave,
    measure_runners,
)
from p2o.bench.plot import plot_latency
from p2o.cli import main
from p2o.core.errors import UsageError
from p2o.report.bench import bench_report
from p2o.runtimes.base import Availability, Runner
from tests.tiny import export_tiny_net

SHAPE = (3, 6, 6)
CLASSES = 5


# --- a fake clock and fake runners ------------------------------------------------------


class FakeClock:
    """Time advances only when a fake engine "computes"."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeRunner(Runner):
    """Each run advances the clock by the next of ``durations`` (seconds), cycling."""

    name = "fake"

    def __init__(
        self,
        label: str,
        clock: FakeClock,
        durations: list[float],
        log: list[str],
        fail_at: int | None = None,
    ) -> None:
        super().__init__(label, threads=1)
        self.label, self.clock, self.durations, self.log = label, clock, durations, log
        self.calls = 0
        self.fail_at = fail_at

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def _build(self) -> Any:
        self.input_names, self.output_names = ["x"], ["y"]
        return object()

    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("engine fell over")
        self.clock.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1
        self.log.append(self.label)
        return [np.zeros((len(feed["x"]), 1), np.float32)]


def test_stats_of_known_samples() -> None:
    s = LatencyStats.of([i / 1000 for i in range(1, 101)], batch=4)  # 1..100 ms
    assert s.count == 100
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p90_ms == pytest.approx(90.1)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.mean_ms == pytest.approx(50.5)
    assert (s.min_ms, s.max_ms) == pytest.approx((1.0, 100.0))
    assert s.iqr_ms == pytest.approx(75.25 - 25.75)
    assert s.throughput == pytest.approx(4 / 0.0505)
    assert s.spread == pytest.approx(90.1 / 50.5)
    assert s.to_dict()["spread_p90_p50"] == pytest.approx(s.spread)


def test_interleave_is_round_robin_after_each_warmup() -> None:
    calls: list[str] = []
    steps = {n: (lambda n=n: calls.append(n)) for n in "ABC"}
    res = interleave(steps, warmup=2, iters=3, clock=FakeClock())
    assert calls == list("AABBCC") + list("ABC") * 3
    assert res.order == list("ABC") * 3
    assert res.rounds == 3
    assert all(len(v) == 3 for v in res.samples.values())


def test_interleave_by_seconds_stops_at_a_round_boundary() -> None:
    clock = FakeClock()

    def step() -> None:
        clock.now += 2.0**-6  # exact in binary: no rounding at the boundary

    res = interleave(
        {"A": step, "B": step}, warmup=1, iters=None, seconds=10 * 2.0**-6, clock=clock
    )
    assert res.rounds == 5  # two steps a round; the budget is reached after the fifth
    assert res.order == ["A", "B"] * 5


def test_interleave_self_timed_step_keeps_transfers_apart() -> None:
    res = interleave(
        {"gpu": lambda: Split(0.002, {"h2d": 0.001, "d2h": 0.0005})},
        warmup=0,
        iters=4,
        clock=FakeClock(),
    )
    assert res.samples["gpu"] == [0.002] * 4
    assert res.transfers["gpu"] == {"h2d": [0.001] * 4, "d2h": [0.0005] * 4}


def test_measure_runners_statistics_and_ratios_with_an_injected_clock() -> None:
    clock, log = FakeClock(), []
    # warm-up: a slow first run (100 ms) then steady ones; measured: 10,20,...,50 ms cycling
    ref = FakeRunner("paddle", clock, [0.100, 0.010, 0.010, 0.020, 0.030, 0.040, 0.050], log)
    fast = FakeRunner("ort", clock, [0.050, 0.005, 0.005, 0.010, 0.015, 0.020, 0.025], log)
    feeds = {2: {"x": np.zeros((2, 1), np.float32)}}
    timings = measure_runners({"paddle": ref, "ort": fast}, feeds, warmup=2, iters=5, clock=clock)
    by = {t.runtime: t for t in timings}
    assert log[:4] == ["paddle", "paddle", "ort", "ort"]
    assert log[4:] == ["paddle", "ort"] * 5
    p, o = by["paddle"], by["ort"]
    assert p.status == o.status == "passed"
    assert p.first_run_ms == pytest.approx(100.0)
    assert o.first_run_ms == pytest.approx(50.0)
    assert p.samples_ms == pytest.approx([10, 20, 30, 40, 50])  # warm-up excluded
    assert p.latency is not None and o.latency is not None
    assert p.latency.p50_ms == pytest.approx(30.0)
    assert p.latency.max_ms == pytest.approx(50.0)
    assert p.latency.throughput == pytest.approx(2 / 0.030)
    assert o.latency.p50_ms == pytest.approx(15.0)
    assert o.vs_reference == pytest.approx(0.5)
    assert o.vs_reference_paired == pytest.approx(0.5)
    assert p.vs_reference == pytest.approx(1.0)
    assert p.build_seconds is not None


def test_a_runner_failing_mid_run_is_an_error_and_the_others_go_on() -> None:
    clock, log = FakeClock(), []
    ok = FakeRunner("paddle", clock, [0.01], log)
    bad = FakeRunner("ort", clock, [0.01], log, fail_at=3)
    timings = measure_runners(
        {"paddle": ok, "ort": bad}, {1: {"x": np.zeros((1, 1))}}, warmup=1, iters=4, clock=clock
    )
    by = {t.runtime: t for t in timings}
    assert by["ort"].status == "error" and "engine fell over" in by["ort"].reason
    assert by["paddle"].status == "passed" and by["paddle"].latency is not None
    assert by["paddle"].latency.count == 4


# --- reports and plots from a synthetic result -------------------------------------------


def _result(model: str = "RegNetX_4GF") -> BenchResult:
    from p2o.zoo.registry import seed_latency

    def ok(name: str, batch: int, ms: list[float], ratio: float | None) -> Timing:
        return Timing(
            name,
            batch,
            "passed",
            build_seconds=0.5,
            first_run_ms=99.0,
            latency=LatencyStats.of([m / 1e3 for m in ms], batch),
            vs_reference=ratio,
            vs_reference_paired=ratio,
            samples_ms=ms,
        )

    timings = []
    for b in (1, 4):
        timings += [
            ok("paddle", b, [38.0 * b, 39.0 * b, 45.0 * b], 1.0),
            ok("ort-cpu", b, [36.0 * b, 37.0 * b, 41.0 * b], 37 / 39),
            Timing("ort-cuda", b, "skipped", "no NVIDIA GPU"),
        ]
    return BenchResult(
        model=model,
        onnx_file="x.onnx",
        paddle_model="exported",
        runtimes=["paddle", "ort-cpu", "ort-cuda"],
        batches=[1, 4],
        threads=2,
        precision="fp32",
        warmup=5,
        iters=3,
        seconds=None,
        machine={"cpu": "Test CPU", "logical_cpus": 2, "loadavg_1_5_15": [1, 1, 1]},
        timings=timings,
        published=seed_latency(model),
    )


def test_report_shows_published_rows_labelled_and_apart(tmp_path: Path) -> None:
    res = _result()
    md_path, html_path = tmp_path / "r.md", tmp_path / "r.html"
    report.write(md_path, bench_report(res, report.link(tmp_path / "p.png", md_path)))
    report.write(html_path, bench_report(res))
    md = md_path.read_text()
    glance, rest = md.split("## Measured on this machine", 1)
    measured, published = rest.split("## Published figures, other hardware: ", 1)
    assert "| bs | paddle p50 ms (measured) | ort-cpu p50 ms (measured) | ort-cuda p50 ms" in glance
    assert "V100" not in glance and "6.46" not in glance and "published" not in glance.lower()
    assert "ort-cpu" in measured and "0.95x" in measured
    assert "V100" not in measured and "6.46" not in measured  # never in the measured columns
    heading = published.splitlines()[0]
    assert heading.startswith("V100 TensorRT FP32") and heading.endswith(", not measured here")
    assert PUBLISHED_LABEL in published
    assert "| V100 | TensorRT | FP32 | 1 | 6.46 |" in published
    assert "latency ms (published)" in published
    assert "![latency per runtime and batch size](p.png)" in md
    page = html_path.read_text()
    assert "Published figures, other hardware: V100 TensorRT FP32" in page
    assert "class='published'" in page and "V100" in page
    text = report.text.render(bench_report(res))
    assert "threads: 2 for every CPU engine" in text and "Test CPU" in text
    assert "ort-cpu 0.95x of paddle" in text
    assert "Published figures, other hardware: V100 TensorRT FP32" in text
    assert text.count(PUBLISHED_LABEL) == 1  # the note once, under its own section
    glance_text = text.split("Measured on this machine", 1)[0]
    assert "V100" not in glance_text and "published" not in glance_text.lower()
    lines = [ln for ln in text.splitlines() if ln.startswith("note:")]
    assert len(lines) == len(set(lines)), lines  # no note printed twice
    assert "ort-cuda[bs=1], ort-cuda[bs=4]: skipped: no NVIDIA GPU" in text
    d = res.to_dict()
    json.dumps(d)
    assert d["published"]["label"] == PUBLISHED_LABEL and d["published"]["rows"]
    assert all(t["runtime"] != "V100" for t in d["timings"])


def test_matplotlib_logs_nothing_on_stderr(tmp_path: Path) -> None:
    """matplotlib warns through logging (an unusable config directory, building its font
    cache); with no logging set up, Python's last resort printed that on bench's stderr."""
    import os
    import subprocess
    import sys

    code = (
        "from p2o.bench.plot import check_plot_path; check_plot_path('x.png'); "
        "import matplotlib.pyplot"
    )
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "file" / "sub")}
    (tmp_path / "file").write_text("")  # the config directory cannot be made: a warning
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot_latency([_result(), _result("ResNeSt50")], tmp_path / "sub" / "lat.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


# --- the command line: bad input is one line and exit 2 ----------------------------------


def _tiny_onnx(path: Path, batch: int | str) -> Path:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    fc = rng.normal(size=(4 * 6 * 6, CLASSES)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("Flatten", ["r"], ["f"], axis=1),
            helper.make_node("MatMul", ["f", "fc"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *SHAPE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, CLASSES])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    export_tiny_net(root / "paddle", 3, CLASSES, SHAPE)
    return {
        "dynamic": _tiny_onnx(root / "tiny.onnx", "N"),
        "fixed": _tiny_onnx(root / "tiny_bs2.onnx", 2),
        "paddle": root / "paddle",
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--runtimes", "ort-cpu,tensorflow"], "unknown runtime 'tensorflow'"),
        (["--runtimes", "ort-cpu", "--batch", "0"], "batch sizes must be >= 1"),
        (["--runtimes", "ort-cpu", "--batch", "1,x"], "--batch: expected comma-separated"),
        (["--runtimes", "ort-cpu", "--iters", "0"], "--iters must be >= 1"),
        (["--runtimes", "ort-cpu", "--threads", "0"], "--threads must be >= 1"),
        (["--runtimes", "ort-cpu", "--report", "r.txt"], "must end in .md or .html"),
        (["--runtimes", "ort-cpu", "--plot", "p.jpg"], "must end in .png"),
        (["--runtimes", "paddle,ort-cpu"], "paddle runtimes need a Paddle model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tiny: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code = main(["bench", "--onnx", str(tiny["dynamic"]), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("p2o: error:") and says in err[-1]


def test_no_source_and_missing_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--runtimes", "ort-cpu"]) == 2
    assert "give --model NAME, or --onnx FILE" in capsys.readouterr().err
    assert main(["bench", "--onnx", "/nonexistent/model.onnx"]) == 2
    assert "ONNX file not found" in capsys.readouterr().err


def test_a_batch_fixed_in_the_model_refuses_another(
    tiny: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "--onnx", str(tiny["fixed"]), "--runtimes", "ort-cpu", "--batch", "1,2"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "batch dimension fixed to 2" in err and "--batch asks 1" in err
    with pytest.raises(UsageError):
        bench.benchmark(
            bench.BenchOptions(onnx_file=tiny["fixed"], runtimes=["ort-cpu"], batches=[4])
        )
    ok = bench.benchmark(
        bench.BenchOptions(
            onnx_file=tiny["fixed"], runtimes=["ort-cpu"], batches=[2], iters=2, warmup=1
        )
    )
    assert ok.timings[0].status == "passed" and ok.timings[0].latency is not None


def test_end_to_end_cli_on_a_tiny_model(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, png = tmp_path / "bench.md", tmp_path / "bench.png"
    code = main(
        [
            "bench",
            "--onnx",
            str(tiny["dynamic"]),
            "--paddle-model",
            str(tiny["paddle"]),
            "--runtimes",
            "paddle,ort-cpu,openvino,ort-cuda",
            "--batch",
            "1,2",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--json",
            "--report",
            str(report),
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr()
    assert code == 0
    d = json.loads(out.out, parse_constant=pytest.fail)  # only strict JSON on stdout
    assert "p2o bench:" in out.err
    assert d["threads"] == 1 and d["interleaved"] is True and d["batches"] == [1, 2]
    rows = {(t["runtime"], t["batch"]): t for t in d["timings"]}
    assert len(rows) == 8
    assert rows[("ort-cuda", 1)]["status"] == "skipped" and rows[("ort-cuda", 1)]["reason"]
    for name in ("paddle", "ort-cpu", "openvino"):
        for b in (1, 2):
            t = rows[(name, b)]
            assert t["status"] == "passed", t["reason"]
            assert t["latency"]["count"] == 3 and len(t["samples_ms"]) == 3
            assert t["build_seconds"] > 0 and t["settings"]["threads"] == 1
    assert rows[("paddle", 1)]["vs_reference"] == pytest.approx(1.0)
    assert rows[("ort-cpu", 2)]["vs_reference"] > 0
    assert any(r.startswith("bs=2: ort-cpu") for r in d["ratios"])
    assert d["published"]["rows"] == []  # not a zoo model
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "## Published figures" in report.read_text()


@pytest.mark.slow
def test_end_to_end_cli_on_the_smallest_zoo_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "bench",
            "--model",
            "RegNetX_200MF",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--work-dir",
            str(tmp_path),
            "--report",
            str(tmp_path / "r.md"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "RegNetX_200MF" in out and "of paddle" in out
    glance, published = out.split("Published figures, other hardware: V100 TensorRT FP32", 1)
    assert "V100" not in glance and "published" not in glance.lower()  # no column beside CPU
    assert re.search(r"V100 +TensorRT +FP32 +1 +1\.00", published)
    assert out.count(PUBLISHED_LABEL) == 1
    assert "| V100 | TensorRT | FP32 | 1 | 1.00 |" in (tmp_path / "r.md").read_text()


def test_no_spin_env_sets_kmp_blocktime_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMP_BLOCKTIME", raising=False)
    assert bench.no_spin_env() == {"KMP_BLOCKTIME": "0"}
    assert bench.machine_info()["env"]["KMP_BLOCKTIME"] == "0"
    monkeypatch.setenv("KMP_BLOCKTIME", "200")
    assert bench.no_spin_env() == {"KMP_BLOCKTIME": "200"}  # the user's choice stands


def test_extra_runner_not_applicable_is_skipped_and_a_failure_is_an_error(
    tiny: dict[str, Path],
) -> None:
    from p2o.core.errors import NotApplicable, P2OError

    def not_here(path: Path) -> Runner:
        raise NotApplicable("nothing to widen")

    def broken(path: Path) -> Runner:
        raise P2OError("could not build")

    res = bench.benchmark(
        bench.BenchOptions(onnx_file=tiny["dynamic"], runtimes=["ort-cpu"], iters=2, warmup=1),
        extra_runners={"variant": not_here, "other": broken},
    )
    rows = {t.runtime: t for t in res.timings}
    assert rows["ort-cpu"].status == "passed"
    assert (rows["variant"].status, rows["variant"].reason) == ("skipped", "nothing to widen")
    assert (rows["other"].status, rows["other"].reason) == ("error", "could not build")


class SelfTimedRunner(FakeRunner):
    """A runner whose timed step times itself (as the CUDA runner's IO-binding step does)."""

    def timed_step(self, feed, clock=None):  # type: ignore[no-untyped-def, override]
        self.build()

        def step() -> Split:
            self.run(feed)
            return Split(0.004, {"h2d": 0.001, "d2h": 0.002})

        return step


def test_the_bench_times_what_the_runner_says_to_time() -> None:
    clock, log = FakeClock(), []
    runners = {
        "paddle": FakeRunner("paddle", clock, [0.010], log),
        "gpu": SelfTimedRunner("gpu", clock, [0.050], log),
    }
    feeds = {1: {"x": np.zeros((1, *SHAPE), np.float32)}}
    by = {t.runtime: t for t in measure_runners(runners, feeds, warmup=1, iters=3, clock=clock)}
    assert by["paddle"].latency.p50_ms == pytest.approx(10.0) and not by["paddle"].transfers
    gpu = by["gpu"]
    assert gpu.latency.p50_ms == pytest.approx(4.0)  # its own compute figure, not the wall 50
    assert gpu.transfers["h2d"].p50_ms == pytest.approx(1.0)
    assert gpu.transfers["d2h"].p50_ms == pytest.approx(2.0)
