"""``p2o release --executor ray`` on a real Ray cluster on this machine (head + a second node,
both on 127.0.0.1 only); skipped where Ray is not installed (``pip install 'p2o-proof[ray]'``)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest

# Ray resolves 127.0.0.1 to the machine's outward address unless told it is alone: keep every
# Ray process of these tests (and the p2o drivers they start) on the loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")

from p2o.core.errors import EnvironmentProblem  # noqa: E402
from p2o.release import ray_executor as rx  # noqa: E402
from p2o.release.plan import ReleaseOptions  # noqa: E402
from tests.support.signals import default_signals  # noqa: E402

FAST = ["--runtimes", "ort-cpu", "--batch", "1"]
NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "resources": {"paddle": 1}}


# ---- without a cluster -------------------------------------------------------------------


def test_a_model_folder_travels_whole_and_nothing_outside_it(tmp_path):
    src = tmp_path / "src" / "M"
    (src / "int8").mkdir(parents=True)
    (src / "record.json").write_text("{}")
    (src / "model.onnx").write_bytes(b"\x00onnx")
    (src / "int8" / "model.onnx").write_bytes(b"q")
    dist = tmp_path / "dist"
    dist.mkdir()
    rx.publish(dist, "M", rx.pack(src))
    assert (dist / "M" / "model.onnx").read_bytes() == b"\x00onnx"
    assert (dist / "M" / "int8" / "model.onnx").read_bytes() == b"q"
    assert not any((dist / ".work").glob("*"))

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("M/../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="unexpected path"):
        rx.publish(dist, "N", evil.getvalue())
    assert not (dist / "N").exists() and not (tmp_path / "escaped").exists()

    (src / "record.json").unlink()  # no record: not a finished model, never published
    src = src.rename(src.with_name("P"))
    with pytest.raises(ValueError, match=r"record\.json"):
        rx.publish(dist, "P", rx.pack(src))
    assert not (dist / "P").exists()


def test_resources_follow_the_runtimes_and_the_model_size():
    small = rx.needs("RegNetX_200MF", ReleaseOptions())
    big = rx.needs("RegNetX_32GF", ReleaseOptions())
    with_gpu = ReleaseOptions(runtimes=("ort-cpu", "ort-cuda"))
    gpu = rx.gpu_needs("RegNetX_200MF", with_gpu)
    assert "GPU" not in small and "GPU" not in rx.needs("RegNetX_200MF", with_gpu)
    assert gpu is not None and gpu["GPU"] == 1 and "paddle" not in gpu  # a GPU node, no Paddle
    assert rx.gpu_needs("RegNetX_200MF", ReleaseOptions()) is None
    assert rx.paddle_step(with_gpu).runtimes == ("ort-cpu",)
    assert rx.paddle_step(ReleaseOptions(runtimes=("ort-trt",))).runtimes == ("ort-cpu",)
    assert small["paddle"] > 0 and small["CPU"] == 1
    assert 2**29 < small["memory"] < big["memory"]
    assert rx.fits({"CPU": 2, "memory": 8 * 2**30, "paddle": 1}, small)
    assert not rx.fits({"CPU": 2, "memory": 8 * 2**30}, small)  # no Paddle there
    assert not rx.fits({"CPU": 8, "memory": 64 * 2**30, "paddle": 1}, gpu)
    assert rx.fits({"CPU": 8, "memory": 64 * 2**30, "GPU": 1}, gpu)


def test_the_board_counts_per_node_and_a_dead_node_is_named():
    board = rx.NodeBoard(4, started={"A": "n1", "B": "n2", "C": "n1"}, finished={"A": "n1"})
    assert board.text() == "ray: 1 pending; n1: 1 running, 1 done; n2: 1 running, 0 done"
    rec = rx.node_error("B", "abcd1234 (10.0.0.7)", RuntimeError("node died\nmore"), 1)
    assert rec.status.value == "error" and rec.stage == "worker"
    assert "abcd1234 (10.0.0.7)" in rec.reason and "after 1 retry" in rec.reason
    assert "more" not in rec.reason


def test_a_killed_tasks_folder_is_swept_by_the_next_task(tmp_path):
    dead = tmp_path / f"{rx.TMP_PREFIX}999999999-abc"  # no such process
    alive = tmp_path / f"{rx.TMP_PREFIX}{os.getpid()}-def"
    dead.mkdir()
    alive.mkdir()
    assert rx.sweep(str(tmp_path)) == [dead]
    assert not dead.exists() and alive.exists()


def test_an_unreachable_address_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    proc = _release(tmp_path / "dist", "RegNetX_200MF", f"127.0.0.1:{port}")
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - t0 < 60
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"p2o: error: no Ray cluster answers at 127.0.0.1:{port}: "
        "Connection refused (waited up to 10 s; $P2O_RAY_CONNECT_TIMEOUT)"
    ]
    with pytest.raises(EnvironmentProblem):
        rx.check_reachable(f"127.0.0.1:{port}", 1.0)


# ---- on a local two-node cluster ----------------------------------------------------------


@pytest.fixture
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={
            **NODE,
            "include_dashboard": False,
            # a dead node is declared dead after ~2 s instead of ~15 s
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4},
        },
    )
    second = c.add_node(**NODE)
    try:
        yield c, second
    finally:
        c.shutdown()


def _cmd(dist: Path, models: str, address: str | None, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "p2o.cli", "release", "--models", models, "--out", str(dist)]
    if address is not None:
        cmd += ["--executor", "ray", "--ray-address", address]
    return [*cmd, *FAST, *extra]


def _release(
    dist: Path, models: str, address: str | None, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _cmd(dist, models, address, *extra),
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def _start(
    dist: Path, models: str, address: str
) -> tuple[subprocess.Popen[str], list[str], threading.Thread]:
    """A release in the background; its stderr lines, as they come, in the list (read by the
    thread returned)."""
    proc = subprocess.Popen(
        _cmd(dist, models, address),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    return proc, lines, reader


def _verdicts(dist: Path) -> dict[str, str]:
    summary = json.loads((dist / "release.json").read_text())
    return {m["model"]: m["status"] for m in summary["models"]}


def _sums(dist: Path) -> dict[str, str]:
    """SHA256SUMS where it is reproducible: the same paths, and the same bytes of each model's
    ``model.onnx`` and ``golden.npz`` (manifest.json and the reports hold stage times, which
    differ between any two runs, local ones too)."""
    lines = [ln.split() for ln in (dist / "SHA256SUMS").read_text().splitlines()]
    assert len(lines) >= 5
    return {p: sha if p.endswith(("model.onnx", "golden.npz")) else "" for sha, p in lines}


def _no_partial_files(dist: Path) -> None:
    assert not (dist / ".work").exists()
    for d in dist.iterdir():
        if d.is_dir():
            rec = json.loads((d / "record.json").read_text())
            assert sorted(p.name for p in d.iterdir() if p.is_file()) == sorted(
                {*rec["artifacts"], "record.json"}
            )


@pytest.mark.slow
def test_ray_release_equals_the_local_one(cluster, tmp_path):
    c, second = cluster
    models = "RegNetX_200MF,ReXNet_1_0"
    local = _release(tmp_path / "local", models, None, "--jobs", "2")
    assert local.returncode == 0, local.stderr
    on_ray = _release(tmp_path / "ray", models, c.address)
    assert on_ray.returncode == 0, on_ray.stderr
    assert _verdicts(tmp_path / "ray") == _verdicts(tmp_path / "local")
    assert set(_verdicts(tmp_path / "ray").values()) == {"passed"}
    assert _sums(tmp_path / "ray") == _sums(tmp_path / "local")
    hashed = [p for p, sha in _sums(tmp_path / "ray").items() if sha]
    assert len(hashed) == 2 * 2  # model.onnx and golden.npz of each model
    run = json.loads((tmp_path / "ray" / "release.json").read_text())["run"]
    assert run["executor"] == "ray"
    _no_partial_files(tmp_path / "ray")
    # both nodes ran a model: the per-node progress names each with a finished model
    assert f"{second.node_id[:8]} (127.0.0.1): 0 running, 1 done" in on_ray.stderr
    assert f"{c.head_node.node_id[:8]} (127.0.0.1): 0 running, 1 done" in on_ray.stderr

    # --resume: a finished model is kept, a missing one is built again on the cluster
    shutil.rmtree(tmp_path / "ray" / "ReXNet_1_0")
    again = _release(tmp_path / "ray", models, c.address, "--resume")
    assert again.returncode == 0, again.stderr
    assert "RegNetX_200MF: up to date (resumed)" in again.stderr
    assert "ReXNet_1_0: passed" in again.stderr
    assert _sums(tmp_path / "ray") == _sums(tmp_path / "local")


@pytest.mark.slow
def test_killing_the_second_node_mid_release_loses_nothing(cluster, tmp_path):
    c, second = cluster
    dist = tmp_path / "dist"
    models = "RegNetX_200MF,ReXNet_1_0,RegNetX_400MF"
    tmp_before = set(Path(tempfile.gettempdir()).glob("p2o-ray-*"))
    proc, lines, reader = _start(dist, models, c.address)
    busy = f"{second.node_id[:8]} (127.0.0.1): 1 running"
    deadline = time.monotonic() + 300
    while not any(busy in ln for ln in lines):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    time.sleep(3)  # into its model's conversion
    c.remove_node(second)
    proc.wait(timeout=900)
    reader.join(10)
    assert not [d for d in Path(tempfile.gettempdir()).glob("p2o-ray-*") if d not in tmp_before]
    log = "".join(lines)
    assert proc.returncode == 0, log  # the lost model was retried on the head node
    assert _verdicts(dist) == dict.fromkeys(models.split(","), "passed")
    assert len((dist / "SHA256SUMS").read_text().splitlines()) >= 3 * 5
    _no_partial_files(dist)
    head = f"{c.head_node.node_id[:8]} (127.0.0.1): 0 running, 3 done"
    assert head in log


@pytest.mark.slow
def test_no_node_with_the_resources_is_exit_2_without_a_hang(cluster, tmp_path):
    c, _ = cluster
    t0 = time.monotonic()
    proc = _release(
        tmp_path / "dist",
        "RegNetX_200MF",
        c.address,
        "--runtimes",
        "ort-cuda",  # needs a GPU node; this cluster has none
        env={"P2O_RAY_NODE_WAIT": "2"},
    )
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - t0 < 120
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p2o: error: no node of the Ray cluster has ")
    assert "what RegNetX_200MF's GPU step needs" in lines[0] and "none has enough GPU;" in lines[0]


@pytest.mark.slow
def test_sigterm_on_the_driver_cancels_the_tasks_and_leaves_no_partial_model(cluster, tmp_path):
    c, _ = cluster
    dist = tmp_path / "dist"
    tmp_before = set(Path(tempfile.gettempdir()).glob("p2o-ray-*"))
    proc, lines, reader = _start(dist, "RegNetX_200MF,ReXNet_1_0,RegNetX_400MF", c.address)
    deadline = time.monotonic() + 300
    while not any("ray: 1 pending" in ln and "1 running" in ln for ln in lines):
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    time.sleep(2)  # both nodes inside a model
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    reader.join(10)
    assert proc.returncode == 143, "".join(lines)
    assert not (dist / "release.json").exists() and not (dist / ".work").exists()
    assert [d for d in dist.iterdir() if d.is_dir()] == []  # nothing finished, nothing partial
    ray.init(address=c.address)
    try:  # the cancelled tasks let go of the cluster's CPUs and removed their folders
        while ray.available_resources().get("CPU", 0) < 2:
            assert time.monotonic() < deadline + 60
            time.sleep(0.5)
    finally:
        ray.shutdown()
    assert not [d for d in Path(tempfile.gettempdir()).glob("p2o-ray-*") if d not in tmp_before]


@pytest.mark.slow
def test_gpu_runtimes_run_on_a_gpu_node_without_paddle_from_the_golden_file(tmp_path):
    """The Paddle step on the Paddle node, the GPU step on the GPU node (no Paddle there): the
    record holds both steps' rows and names the GPU node. This machine has no GPU, so the
    GPU runtimes are skipped with their reason; the scheduling is what is tested."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    gpu_node = c.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1")  # no paddle
    try:
        dist = tmp_path / "dist"
        proc = _release(dist, "RegNetX_200MF", c.address, "--runtimes", "ort-cpu,ort-cuda")
        assert proc.returncode == 0, proc.stderr
        rec = json.loads((dist / "RegNetX_200MF" / "record.json").read_text())
        rows = {r["runtime"]: r for r in rec["verify"]["results"]}
        assert rows["ort-cpu"]["status"] == "passed"  # the Paddle step's row
        assert rows["ort-cuda"]["status"] == "skipped"  # the GPU step's row, with its reason
        assert any(gpu_node.node_id[:8] in n for n in rec["verify"]["notes"])
        assert "verify_gpu" in rec["stage_seconds"]
        _no_partial_files(dist)
        page = (dist / "RegNetX_200MF" / "report.html").read_text()
        assert "ort-cuda" in page  # the model's page was rewritten with the GPU rows
    finally:
        c.shutdown()
