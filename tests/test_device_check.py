"""benchmarks/device_check.py rehearsed end to end on the CPU (``run --dry-run``).

``prepare`` makes one model's ONNX file and golden outputs, the p2o wheel and a tiny fake
wheel in place of onnxruntime-gpu (255 MB), split into small parts; the parts are then
received one per "call", as on the GPU machine, and ``run --dry-run`` installs the wheels into
a venv where Paddle, paddle2onnx and OpenVINO cannot be imported, verifies on ort-cpu in
place of ort-cuda and benchmarks at batch 1, 4 and 8.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # one conversion + golden outputs + a wheel build (~45 s)

ROOT = Path(__file__).resolve().parents[1]
MODEL = "RegNetX_200MF"


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "device_check", ROOT / "benchmarks/device_check.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dc = _load_script()


def fake_wheel(folder: Path) -> Path:
    path = folder / "p2o_fake_gpu-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("p2o_fake_gpu/__init__.py", "STANDS_FOR = 'onnxruntime-gpu'\n")
        info = "p2o_fake_gpu-0.0.0.dist-info"
        z.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: p2o-fake-gpu\nVersion: 0.0.0\n"
        )
        z.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``prepare`` for one model, fp32, parts of 4 MiB (about 5 of them)."""
    d = tmp_path_factory.mktemp("device-check")
    cmd = [sys.executable, str(ROOT / "benchmarks/device_check.py"), "prepare"]
    cmd += ["--models", MODEL, "--no-fp16", "--no-download", "--wheel", str(fake_wheel(d))]
    cmd += ["--out", str(d / "out"), "--part-mib", "4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Device calls" in proc.stdout and "receive" in proc.stdout
    return d / "out" / "parts"


def _carry(parts: Path, name: str, dest: Path) -> Path:
    """What one device call carries: the manifest and one part."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir()
    for n in (dc.MANIFEST, name):
        shutil.copyfile(parts / n, dest / n)
    return dest


def test_rehearsal_end_to_end(parts: Path, tmp_path: Path) -> None:
    manifest = json.loads((parts / dc.MANIFEST).read_text())
    names = [p["name"] for p in manifest["parts"]]
    assert len(names) >= 3 and all(p["bytes"] <= 4 * 2**20 for p in manifest["parts"])
    stash, carry = tmp_path / "stash", tmp_path / "carry"
    for name in names[:-1]:  # one call per part, back to back
        assert (
            dc.main(["receive", "--from", str(_carry(parts, name, carry)), "--parts", str(stash)])
            == 0
        )
    out, work = tmp_path / "out", tmp_path / "work"
    args = [
        "run",
        "--dry-run",
        "--from",
        str(_carry(parts, names[-1], carry)),
        "--parts",
        str(stash),
    ]
    args += ["--work", str(work), "--out", str(out), "--warmup", "1", "--iters", "3"]
    assert dc.main(args) == 0, (out / "log.txt").read_text()[-3000:]

    assert sorted(p.name for p in out.iterdir()) == ["log.txt", "results.json", "summary.md"]
    res = json.loads((out / "results.json").read_text())
    assert res["bundle"]["complete"] and res["bundle"]["parts"] == f"{len(names)}/{len(names)}"
    site = Path(res["install"]["site"])
    assert (site / "p2o_fake_gpu" / "__init__.py").is_file()  # the carried wheels, installed
    assert Path(res["machine"]["p2o_from"]).is_relative_to(site)  # the wheel's p2o, not src/
    runtimes = {r["name"]: r for r in res["runtimes"]}
    assert runtimes["ort-cpu"]["available"]
    for blocked in ("paddle", "openvino"):  # as on the GPU machine
        assert not runtimes[blocked]["available"], runtimes[blocked]
    verify = [(v["precision"], v["runtime"], v["batch"], v["status"]) for v in res["verify"]]
    assert verify == [("fp32", "ort-cpu", 1, "passed"), ("fp32", "ort-cpu", 4, "passed")]
    bench = [(b["batch"], b["status"]) for b in res["bench"]]
    assert bench == [(1, "passed"), (4, "passed"), (8, "passed")]
    assert all(b["p50_ms"] > 0 for b in res["bench"])
    md = (out / "summary.md").read_text()
    assert "dry run" in md and f"| {MODEL} | fp32 | ort-cpu | 4 | passed |" in md
    assert "## Latency" in md and "verdict: passed" in md


def test_corrupt_or_missing_parts_are_refused(parts: Path, tmp_path: Path, capsys) -> None:
    names = [p["name"] for p in json.loads((parts / dc.MANIFEST).read_text())["parts"]]
    carry, stash = _carry(parts, names[1], tmp_path / "carry"), tmp_path / "stash"
    blob = bytearray((carry / names[1]).read_bytes())
    blob[100] ^= 0xFF
    (carry / names[1]).write_bytes(bytes(blob))
    assert dc.main(["receive", "--from", str(carry), "--parts", str(stash)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "sha256" in err[-1] and names[1] in err[-1] and not (stash / names[1]).exists()
    # part 1 without part 0: a gap, refused before anything is installed
    shutil.copyfile(parts / names[1], carry / names[1])
    args = ["run", "--dry-run", "--from", str(carry), "--parts", str(stash)]
    args += ["--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    assert dc.main(args) == 2
    assert "earlier one is missing" in capsys.readouterr().err
    assert not (tmp_path / "work" / "venv").exists()


def test_partial_transfer_extracts_the_whole_files_it_holds(parts: Path, tmp_path: Path) -> None:
    """Calls cut short: the parts received so far still give the files that lie in them."""
    manifest = json.loads((parts / dc.MANIFEST).read_text())
    stash = tmp_path / "stash"
    stash.mkdir()
    shutil.copyfile(parts / dc.MANIFEST, stash / dc.MANIFEST)
    shutil.copyfile(parts / manifest["parts"][0]["name"], stash / manifest["parts"][0]["name"])
    got = dc.join_and_extract(stash, tmp_path / "bundle")
    assert not got["complete"] and got["files"][0] == dc.PLAN
    assert all((tmp_path / "bundle" / f).is_file() for f in got["files"])
    assert not any(f.endswith(".onnx") for f in got["files"])  # 10 MB: not in the first 4 MiB
