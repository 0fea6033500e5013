"""Locating a user's Paddle model: folders, program files, archives (hostile ones refused)."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from p2o.converter.source import open_paddle_model
from p2o.core.errors import UsageError
from p2o.core.hashing import sha256_file
from tests.support.signals import default_signals

YML = """\
PreProcess:
  transform_ops:
  - ResizeImage:
      resize_short: 292
  - CropImage:
      size: 256
  - NormalizeImage:
      scale: 0.00392156862745098
      mean: [0.5, 0.5, 0.5]
      std: [0.5, 0.5, 0.5]
      order: ''
      channel_num: 3
  - ToCHWImage: null
PostProcess:
  Topk:
    topk: 3
    label_list: [a, b, c, d, e, f]
"""


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_folder_from_another_directory(byom: Path, tmp_path: Path, monkeypatch):
    d = _copy(byom / "mobile", tmp_path / "models" / "mobile")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with open_paddle_model("../models/mobile") as src:
        assert src.model_file == d / "inference.json" and src.model_file.is_absolute()
        assert src.params_file == d / "inference.pdiparams"
        assert (src.name, src.format, src.input_name) == ("mobile", "pir", "image")
        assert src.input_shape == (3, 224, 224)
        assert src.preprocess.source == "ImageNet default"
        assert src.sha256 == {
            str(d / "inference.json"): sha256_file(d / "inference.json"),
            str(d / "inference.pdiparams"): sha256_file(d / "inference.pdiparams"),
        }
        assert src.to_dict()["format"] == "pir"


def test_program_file_with_odd_names_and_params(byom: Path, tmp_path: Path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(byom / "mobile_legacy" / "inference.pdmodel", tmp_path / "a" / "net.pdmodel")
    shutil.copy(byom / "mobile_legacy" / "inference.pdiparams", tmp_path / "b" / "weights.bin")
    monkeypatch.chdir(tmp_path / "b")
    with pytest.raises(UsageError, match=r"net.pdmodel: no parameters beside it .*--params"):
        with open_paddle_model("../a/net.pdmodel"):
            pass
    with open_paddle_model("../a/net.pdmodel", params="weights.bin") as src:
        assert src.format == "legacy" and src.name == "net"
        assert src.params_file == tmp_path / "b" / "weights.bin"
    # the same program stem beside its params: found without --params
    shutil.copy(tmp_path / "b" / "weights.bin", tmp_path / "a" / "net.pdiparams")
    with open_paddle_model(tmp_path / "a") as src:
        assert src.model_file.name == "net.pdmodel"


def test_what_is_not_a_model(byom: Path, tmp_path: Path):
    with pytest.raises(UsageError, match="Paddle model not found"):
        with open_paddle_model(tmp_path / "missing"):
            pass
    with pytest.raises(UsageError, match="holds no Paddle inference model"):
        with open_paddle_model(tmp_path):
            pass
    d = _copy(byom / "mobile", tmp_path / "m")
    with pytest.raises(UsageError, match="is a parameters file"):
        with open_paddle_model(d / "inference.pdiparams"):
            pass
    (d / "inference.pdiparams").unlink()
    with pytest.raises(UsageError, match=r"inference.json: no parameters beside it"):
        with open_paddle_model(d):
            pass
    with pytest.raises(UsageError, match="parameters file not found"):
        with open_paddle_model(d, params=d / "nope.pdiparams"):
            pass
    two = _copy(byom / "mobile", tmp_path / "two")
    shutil.copy(two / "inference.json", two / "other.json")
    shutil.copy(two / "inference.pdiparams", two / "other.pdiparams")
    with pytest.raises(UsageError, match=r"several Paddle models \(inference.json, other.json\)"):
        with open_paddle_model(two):
            pass


def _tar(path: Path, members: dict[str, Path | bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as t:
        for name, content in members.items():
            if isinstance(content, Path):
                t.add(content, arcname=name)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                t.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz", ".zip"])
def test_archives_one_folder_level_inside(byom: Path, tmp_path: Path, monkeypatch, suffix: str):
    d = byom / "mobile"
    archive = tmp_path / f"Mobile_infer{suffix}"
    files = {f"Mobile_infer/{f.name}": f for f in d.iterdir()}
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as z:
            for name, f in files.items():
                z.write(f, name)
    else:
        _tar(archive, files, "w" if suffix == ".tar" else "w:gz")
    monkeypatch.chdir(byom)
    with open_paddle_model(os.path.relpath(archive)) as src:
        unpacked = src.model_file.parent
        assert src.name == "Mobile_infer" and src.archive == archive
        assert src.sha256[str(archive)] == sha256_file(archive)
        assert src.sha256[f"{archive}:inference.pdiparams"] == sha256_file(
            d / "inference.pdiparams"
        )
        assert unpacked.is_dir() and not unpacked.is_relative_to(tmp_path)
    assert not unpacked.exists()  # removed on leaving
    # parameters given beside the archive are shown as what they are
    with open_paddle_model(archive, params=d / "inference.pdiparams") as src:
        assert src.to_dict()["weights"] == str(d / "inference.pdiparams")


def test_archive_removed_after_an_error_and_files_at_its_top(byom: Path, tmp_path: Path):
    archive = _tar(
        tmp_path / "top.tgz",
        {"inference.json": byom / "mobile" / "inference.json", "inference.pdiparams": b"junk"},
    )
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("p2o-model-*"))
    with pytest.raises(UsageError, match=r"inference.pdiparams: .*\(truncated\?\) \(in top.tgz\)"):
        with open_paddle_model(archive):
            pass
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("p2o-model-*")) == before


def _hostile_tar(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w") as t:
        info = tarfile.TarInfo("m/inference.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
        if kind == "dotdot":
            info = tarfile.TarInfo("m/../../evil.txt")
            info.size = 4
            t.addfile(info, io.BytesIO(b"evil"))
        elif kind == "absolute":
            info = tarfile.TarInfo(str(path.parent / "evil.txt"))
            info.size = 4
            t.addfile(info, io.BytesIO(b"evil"))
        elif kind in ("symlink", "symlink-absolute", "hardlink"):
            info = tarfile.TarInfo("m/inference.pdiparams")
            info.type = tarfile.LNKTYPE if kind == "hardlink" else tarfile.SYMTYPE
            info.linkname = "/etc/passwd" if kind == "symlink-absolute" else "../../evil.txt"
            t.addfile(info)
        elif kind == "device":
            info = tarfile.TarInfo("m/dev")
            info.type = tarfile.CHRTYPE
            t.addfile(info)
    return path


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("dotdot", "climbs out with '..'"),
        ("absolute", "absolute name"),
        ("symlink", "links to '../../evil.txt', outside"),
        ("symlink-absolute", "links to '/etc/passwd', outside"),
        ("hardlink", "links to '../../evil.txt', outside"),
        ("device", "device or fifo"),
    ],
)
def test_hostile_tar_is_refused_and_nothing_lands_outside(tmp_path: Path, kind: str, why: str):
    (tmp_path / "in").mkdir()
    archive = _hostile_tar(tmp_path / "in" / "evil.tar", kind)
    with pytest.raises(UsageError, match=rf"evil.tar: member .*{why}.*\(refused\)"):
        with open_paddle_model(archive):
            pass
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "in" / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "link"])
def test_hostile_zip_is_refused(tmp_path: Path, name: str):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo(name)
        if name == "link":
            info.external_attr = (0o120777 << 16) | 0
        z.writestr(info, "../../etc/passwd" if name == "link" else "evil")
    with pytest.raises(UsageError, match=r"evil.zip: member .*\(refused\)"):
        with open_paddle_model(archive):
            pass


def test_an_archive_without_a_model_is_named_not_its_temporary_folder(tmp_path: Path):
    archive = _tar(tmp_path / "empty.tgz", {"docs/README.txt": b"no model here"})
    with pytest.raises(UsageError, match=r"^empty.tgz holds no Paddle inference model") as e:
        with open_paddle_model(archive):
            pass
    assert "p2o-model-" not in str(e.value)


def test_broken_archives(tmp_path: Path):
    (tmp_path / "bad.tgz").write_bytes(b"not a tar at all" * 10)
    (tmp_path / "bad.zip").write_bytes(b"not a zip at all" * 10)
    with pytest.raises(UsageError, match=r"bad.tgz: not a readable tar archive"):
        with open_paddle_model(tmp_path / "bad.tgz"):
            pass
    with pytest.raises(UsageError, match=r"bad.zip: not a readable zip archive"):
        with open_paddle_model(tmp_path / "bad.zip"):
            pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_unpacked_folder_removed_on_signal(byom: Path, tmp_path: Path, sig: signal.Signals):
    archive = _tar(tmp_path / "m.tgz", {f"m/{f.name}": f for f in (byom / "mobile").iterdir()})
    script = textwrap.dedent(
        f"""
        import sys, time
        from p2o.converter.source import open_paddle_model
        with open_paddle_model({str(archive)!r}) as src:
            print(src.model_file.parent, flush=True)
            time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=default_signals,  # a suite started with SIGINT ignored passes it on
    )
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().decode().strip())
    assert folder.is_dir()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    for _ in range(50):
        if not folder.exists():
            break
        time.sleep(0.1)
    assert proc.returncode != 0 and not folder.exists()


def test_preprocessing_from_inference_yml(byom: Path, tmp_path: Path):
    d = _copy(byom / "two_heads", tmp_path / "th")
    (d / "inference.yml").write_text(YML)
    with open_paddle_model(d) as src:
        pp = src.preprocess
        assert src.input_shape == (3, 256, 256) and pp.resize_short == 292
        assert (pp.mean, pp.topk, pp.labels[:2]) == ((0.5, 0.5, 0.5), 3, ("a", "b"))
        assert src.config_file == d / "inference.yml" and str(d / "inference.yml") in src.sha256
        assert src.to_dict()["preprocess"]["source"] == "inference.yml"
    # a config given by hand beats none; one that does not fit a fixed input is refused
    (tmp_path / "pp.yml").write_text(YML)
    with pytest.raises(UsageError, match=r"256x256 input .* input x is float32\[-1, 3, 160, 160\]"):
        with open_paddle_model(byom / "fixed160", config=tmp_path / "pp.yml"):
            pass
    with open_paddle_model(byom / "fixed160") as src:
        assert src.input_shape == (3, 160, 160)
        assert src.preprocess.source == "ImageNet default, sized to the program's 160x160 input"
        assert src.preprocess.resize_short == 183
