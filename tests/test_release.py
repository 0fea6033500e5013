"""`p2o release`: the gate over many models — red when one is wrong, resumable, reproducible."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from p2o import release as rel
from p2o.converter import paddle2onnx
from p2o.core.errors import UsageError
from p2o.core.hashing import sha256_file
from tests.support.signals import default_signals

FAST = rel.ReleaseOptions(runtimes=("ort-cpu",), batches=(1,))


def _onnx_sums(dist):
    lines = (dist / "SHA256SUMS").read_text().splitlines()
    return sorted(ln for ln in lines if ln.endswith("model.onnx"))


def test_selection_and_shards(tmp_path):
    assert rel.select_models("RedNet*")[:2] == ["RedNet26", "RedNet38"]
    assert rel.select_models("RegNetX_200MF, ReXNet_1_0") == ["RegNetX_200MF", "ReXNet_1_0"]
    f = tmp_path / "models.txt"
    f.write_text("# release list\nResNeSt50\nRes2Net50_*_ssld\n")
    assert rel.select_models(str(f)) == ["ResNeSt50", "Res2Net50_vd_26w_4s_ssld"]
    everything = rel.select_models("*")
    shards = [rel.shard(everything, f"{k}/4") for k in range(1, 5)]
    assert sorted(n for s in shards for n in s) == sorted(everything)
    assert all(not set(a) & set(b) for i, a in enumerate(shards) for b in shards[i + 1 :])
    for bad in ("0/4", "5/4", "x", "1/0"):
        with pytest.raises(UsageError):
            rel.shard(everything, bad)
    with pytest.raises(UsageError):
        rel.select_models("Nope*")


def test_release_is_reproducible_and_a_broken_model_is_red(tmp_path, monkeypatch):
    one = rel.release("RegNetX_200MF", out=tmp_path / "a", options=FAST, jobs=0)
    two = rel.release("RegNetX_200MF", out=tmp_path / "b", options=FAST, jobs=0)
    assert one.passed and two.passed
    assert _onnx_sums(tmp_path / "a") == _onnx_sums(tmp_path / "b")
    for line in (tmp_path / "a" / "SHA256SUMS").read_text().splitlines():
        sha, path = line.split()
        assert sha256_file(tmp_path / "a" / path) == sha

    real = paddle2onnx.convert

    def corrupt_one_weight(model_file, params_file, opset):
        res = real(model_file, params_file, opset)
        m = onnx.load_from_string(res.onnx_bytes)
        node = next(
            n for n in m.graph.node if n.op_type == "Constant" and len(n.attribute[0].t.dims) == 4
        )
        t = node.attribute[0].t
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(1.02), t.name))
        return dataclasses.replace(res, onnx_bytes=m.SerializeToString())

    monkeypatch.setattr(paddle2onnx, "convert", corrupt_one_weight)
    out = tmp_path / "broken"
    summary = rel.release("RegNetX_200MF", out=out, options=FAST, jobs=0)
    assert not summary.passed and summary.counts["failed"] == 1
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1"
    assert suite.find("testcase/failure") is not None
    assert "FAILED" in (out / "report.html").read_text()
    record = json.loads((out / "RegNetX_200MF" / "record.json").read_text())
    assert record["status"] == "failed"


@pytest.mark.slow
def test_killed_run_leaves_nothing_that_looks_complete_and_resume_finishes(tmp_path):
    dist = tmp_path / "dist"
    models = "RegNetX_200MF,RegNetX_400MF,RegNetX_600MF"
    cmd = [
        sys.executable,
        "-m",
        "p2o.cli",
        "release",
        "--models",
        models,
        "--out",
        str(dist),
        "--runtimes",
        "ort-cpu",
        "--batch",
        "1",
        "--jobs",
        "1",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    deadline = time.time() + 600
    while not (dist / "RegNetX_200MF" / "record.json").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.5)
    time.sleep(3)  # into the next model's conversion
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    assert not (dist / "release.json").exists() and not (dist / "SHA256SUMS").exists()
    done = [p.parent for p in dist.glob("*/record.json")]
    assert done, "the first model should have been published before the kill"
    for d in done:
        rec = json.loads((d / "record.json").read_text())
        for f, sha in rec["artifacts"].items():
            assert sha256_file(d / f) == sha
    unfinished = [
        p
        for p in dist.iterdir()
        if p.is_dir() and not p.name.startswith(".") and not (p / "record.json").exists()
    ]
    assert unfinished == []

    rerun = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert "RegNetX_200MF: up to date (resumed)" in rerun.stderr
    summary = json.loads((dist / "release.json").read_text())
    assert [m["model"] for m in summary["models"]] == models.split(",")
    assert not (dist / ".work").exists()


def test_shard_outputs_merge(tmp_path):
    a = rel.release(
        "RegNetX_200MF,RegNetX_400MF", out=tmp_path / "s1", options=FAST, jobs=0, shard_spec="1/2"
    )
    b = rel.release(
        "RegNetX_200MF,RegNetX_400MF", out=tmp_path / "s2", options=FAST, jobs=0, shard_spec="2/2"
    )
    assert [m.model for m in a.models] == ["RegNetX_200MF"]
    assert [m.model for m in b.models] == ["RegNetX_400MF"]
    merged = rel.merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "all")
    assert merged.passed and [m.model for m in merged.models] == [
        "RegNetX_200MF",
        "RegNetX_400MF",
    ]
    assert len(_onnx_sums(tmp_path / "all")) == 2
    assert merged.options == FAST.key()  # both shards ran with the same options
    from p2o.cli import main  # the same as a real subcommand

    shards = [str(tmp_path / "s1"), str(tmp_path / "s2")]
    code = main(["release", "merge", *shards, "--out", str(tmp_path / "cli")])
    assert code == 0 and _onnx_sums(tmp_path / "cli") == _onnx_sums(tmp_path / "all")
    with pytest.raises(SystemExit) as exc:  # no SHARD_DIR: argparse's usage error
        main(["release", "merge", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    with pytest.raises(UsageError, match="more than one shard"):
        rel.merge([tmp_path / "s1", tmp_path / "s1"], tmp_path / "dup")


def test_cli_release_bad_input(tmp_path, capsys):
    from p2o.cli import main

    assert main(["release", "--models", "Nope", "--out", str(tmp_path / "d")]) == 2
    assert main(["release", "--models", "RegNetX_200MF", "--shard", "3/2"]) == 2
    assert main(["release"]) == 2
    assert not (tmp_path / "d").exists()
    assert os.environ.get("P2O_DEBUG") is None


def test_release_with_align_groups_ships_a_widened_verified_model(tmp_path, monkeypatch):
    from p2o.cli import main
    from p2o.converter import align_groups

    monkeypatch.setattr(align_groups, "DEFAULT_MAX_GROWTH", 2.0)  # RegNetX_200MF: 8 -> 16
    options = dataclasses.replace(FAST, align_groups=16)
    summary = rel.release("RegNetX_200MF", out=tmp_path / "d", options=options, jobs=0)
    assert summary.passed
    manifest = json.loads((tmp_path / "d" / "RegNetX_200MF" / "manifest.json").read_text())
    assert manifest["options"]["align_groups"] == 16
    assert len(manifest["align_groups"]["widened"]) == 13
    plain = rel.inputs_key("RegNetX_200MF", None, FAST)[0]
    assert rel.inputs_key("RegNetX_200MF", None, options)[0] != plain  # --resume tells them apart
    assert main(["release", "--models", "RegNetX_200MF", "--align-groups", "-4"]) == 2
