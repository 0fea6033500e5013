"""One prepared GPU check: ONNX files and golden outputs made here, verified and timed there.

A GPU machine lent for a few minutes, with no Paddle and no network, gets everything it needs
in parts small enough for one transfer each, and one command that runs the whole check
(docs/gpu.md says why and how; the plan of calls is printed by ``prepare``):

    python benchmarks/device_check.py prepare [--models A,B] [--no-fp16] [--out device-check]
        here (Paddle, a package registry): for one model per family, ``p2o convert`` (fp32 and
        the fp16 artifact), ``p2o verify --save-golden`` against Paddle on ort-cpu, the p2o
        wheel and the wheels the GPU machine lacks (onnxruntime-gpu for CUDA 13), all in one
        tar split into parts under 60 MiB, with their SHA-256 in ``parts/MANIFEST.json``.
    python3 benchmarks/device_check.py receive --from device-check/parts
        there, one call per part: checks the carried part against the manifest and keeps it
        in ``.device-check/parts`` (ignored by git, so it stays while the machine is warm).
    python3 benchmarks/device_check.py run --from device-check/parts --out "$OUT"
        there, last call: receives what is carried, joins and checks the parts, installs the
        wheels without network into a venv that reuses the image's packages, then
        ``p2o runtimes``, ``p2o verify --golden`` on ort-cuda (fp32 with TF32 off, and the
        fp16 artifact) and ort-trt (skipped, with the reason, where TensorRT is missing),
        and ``p2o bench`` on ort-cuda at batch 1, 4 and 8 (IO binding); ``results.json``,
        ``summary.md`` and ``log.txt`` in the output folder, rewritten after every step.
    ... run --dry-run --parts device-check/parts --out DIR
        the rehearsal on a CPU machine: ort-cpu stands in for the GPU runtimes, Paddle,
        paddle2onnx and OpenVINO are blocked inside the venv, as on the GPU machine.

Exit status of ``run``: 0 every verification passed (skips allowed), 1 one failed or a step
broke, 2 the parts are missing or corrupt (one line says which).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("RedNet26", "ReXNet_1_0", "RegNetX_200MF", "ResNeSt50_fast_1s1x64d", "Res2Net50_14w_8s")
PART_MIB = 60
MANIFEST = "MANIFEST.json"
PLAN = "plan.json"
BUNDLE = "bundle.tar"
PARTS_FORMAT = "p2o-device-parts/1"
PLAN_FORMAT = "p2o-device-plan/1"
LOCAL_PARTS = Path("device-check/parts")  # where prepare leaves them (carried from here)
STASH = Path(".device-check/parts")  # where the GPU machine keeps them between calls
GOLDEN_BATCHES = "1,4"
BENCH_BATCHES = "1,4,8"
ORT_GPU = "onnxruntime-gpu==1.31.1"  # built for CUDA 13 (libcublas.so.13, libcudnn.so.9)
BOX_PYTHON = "3.12"
# The GPU machine's image (docs/gpu.md): its packages are reused, only the others travel.
BOX_PACKAGES = set(
    """absl-py accelerate aiofiles attrs build certifi click cloudpickle contourpy cycler
    filelock flatbuffers fonttools fsspec imageio jinja2 joblib kiwisolver lazy-loader
    markdown-it-py markupsafe matplotlib ml-dtypes mpmath networkx numpy nvidia-cublas
    nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
    nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-nvjitlink onnx onnx-ir
    onnxruntime onnxscript opencv-python-headless packaging pandas pillow pip protobuf psutil
    pygments pyparsing python-dateutil pyyaml requests rich scikit-image scipy setuptools
    shellingham six sympy tifffile torch tqdm typer typing-extensions urllib3 wheel""".split()
)
# Never needed on the GPU side (conversion happens here), whatever p2o's requirements say.
NOT_CARRIED = {"paddlepaddle", "paddle2onnx", "openvino", "onnxsim", "onnxslim"}
NOT_CARRIED |= {"onnxconverter-common", "onnxruntime"}
BLOCKED = ("paddle", "paddle2onnx", "openvino")  # what --dry-run makes unimportable
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64")


def say(msg: str) -> None:
    print(f"device_check: {msg}", file=sys.stderr, flush=True)


class Refused(Exception):
    """Missing or corrupt parts, a bad plan: one line, exit 2."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


# --------------------------------------------------------------------------- prepare


def p2o(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``p2o ARGS`` with this interpreter (and its PYTHONPATH), stdout captured."""
    say("p2o " + " ".join(args))
    cmd = [sys.executable, "-m", "p2o.cli", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"device_check: `p2o {' '.join(args)}` exited {proc.returncode}")
    return proc


def cpu_verdict(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """What the CPU verification said, kept in the plan (the GPU rows are compared to it)."""
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return {"exit_code": proc.returncode}
    rows = [
        {"runtime": r["runtime"], "batch": r["settings"].get("batch"), "status": r["status"]}
        | {"min_tolerance": r.get("min_tolerance")}
        for r in data.get("results", [])
    ]
    return {"exit_code": proc.returncode, "status": data.get("status"), "rows": rows}


def convert_options(model: str) -> list[str]:
    """The convert options for a GPU artifact: RedNet's involutions get the GPU body."""
    return ["--involution-body", "gpu"] if model.startswith("RedNet") else []


def make_artifact(model: str, precision: str, work: Path, reuse: bool) -> dict[str, Any]:
    """Convert ``model`` at ``precision`` and save its golden outputs (Paddle, ort-cpu)."""
    d = work / model / precision
    onnx_file, golden = d / "model.onnx", d / "golden.npz"
    options = convert_options(model) + (["--precision", precision] if precision != "fp32" else [])
    if not (reuse and onnx_file.is_file() and golden.is_file()):
        p2o(["convert", "--model", model, "-o", str(d), "--overwrite", "-q", *options])
    args = ["verify", "--model", model, "--onnx", str(onnx_file), "--runtimes", "ort-cpu"]
    args += ["--batch", GOLDEN_BATCHES, "--save-golden", str(golden), "--json", "-q"]
    verify = p2o(args, check=False)
    if verify.returncode not in (0, 1) or not golden.is_file():
        raise SystemExit(f"device_check: no golden outputs for {model} {precision}")
    return {
        "model": model,
        "precision": precision,
        "files": {"onnx": onnx_file, "golden": golden},
        "onnx_sha256": sha256_file(onnx_file),
        "convert_options": options,
        "cpu_verify": cpu_verdict(verify),
    }


def build_p2o_wheel(dest: Path) -> Path:
    """The p2o wheel of this checkout (``pip wheel --no-deps``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("p2o_proof-*.whl"):
        old.unlink()
    say(f"building the p2o wheel of {ROOT}")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), str(ROOT)]
    subprocess.run(cmd, check=True)
    (wheel,) = dest.glob("p2o_proof-*.whl")
    return wheel


def wheel_metadata(wheel: Path) -> dict[str, list[str]]:
    """A wheel's METADATA fields (each a list of values)."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(name).decode()
    fields: dict[str, list[str]] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, []).append(value)
    return fields


def requirement_name(req: str) -> str:
    for i, ch in enumerate(req):
        if not (ch.isalnum() or ch in "-_."):
            return canonical(req[:i])
    return canonical(req)


def to_carry(p2o_wheel: Path) -> tuple[list[str], list[str]]:
    """(distributions the GPU side needs that the image lacks, problems with the wheel)."""
    meta = wheel_metadata(p2o_wheel)
    problems = []
    requires_python = (meta.get("Requires-Python") or [""])[0]
    with contextlib.suppress(ImportError):
        from packaging.specifiers import SpecifierSet

        if requires_python and f"{BOX_PYTHON}.0" not in SpecifierSet(requires_python):
            problems.append(
                f"the p2o wheel says Requires-Python {requires_python}: the GPU machine has "
                f"Python {BOX_PYTHON}"
            )
    needed = []
    for req in meta.get("Requires-Dist", []):
        spec, _, marker = req.partition(";")
        if "extra" in marker and "'gpu'" not in marker and '"gpu"' not in marker:
            continue  # another extra's requirement
        name = requirement_name(spec.strip())
        if name not in BOX_PACKAGES and name not in NOT_CARRIED and name != "onnxruntime-gpu":
            needed.append(spec.strip().replace(" ", ""))
    return [ORT_GPU, *needed], problems


def download(spec: str, dest: Path) -> Path:
    """``pip download`` one distribution's wheel for the GPU machine's Python."""
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement_name(spec)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    cmd += ["--python-version", BOX_PYTHON, "--implementation", "cp", "-d", str(dest)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    say(f"pip download {spec} (for Python {BOX_PYTHON})")
    subprocess.run([*cmd, spec], check=True)
    found = [w for w in dest.glob("*.whl") if canonical(w.name.split("-")[0]) == name]
    if not found:
        raise SystemExit(f"device_check: pip download {spec} left no wheel in {dest}")
    return max(found, key=lambda w: w.stat().st_mtime)


def tar_bundle(tar_path: Path, members: list[tuple[str, Path]]) -> None:
    """An uncompressed tar of ``(name, file)``, in that order (plan and wheels first)."""
    tmp = tar_path.with_name(tar_path.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in members:
            info = tar.gettarinfo(str(path), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, tar_path)


def split(bundle: Path, parts: Path, part_bytes: int) -> list[dict[str, Any]]:
    """Cut ``bundle`` into ``bundle.tar.000``, ``.001``, ... of at most ``part_bytes``."""
    if parts.exists():
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    out = []
    with open(bundle, "rb") as f:
        for i in range(10**3):
            block = f.read(part_bytes)
            if not block:
                break
            p = parts / f"{BUNDLE}.{i:03d}"
            p.write_bytes(block)
            out.append(
                {"name": p.name, "bytes": len(block), "sha256": hashlib.sha256(block).hexdigest()}
            )
    return out


def calls_text(parts: list[dict[str, Any]], local: Path) -> str:
    """The plan of device calls: one per part, back to back, the last one also runs."""
    lines = [
        f"# Device calls ({len(parts)}; each within the 30 s warm window of the previous)",
        "",
    ]
    for i, part in enumerate(parts):
        carry = [str(local / MANIFEST), str(local / part["name"])]
        last = i == len(parts) - 1
        cmd = (
            f"PYTHONUNBUFFERED=1 python3 benchmarks/device_check.py run --from {local} --out $OUT"
            if last
            else f"python3 benchmarks/device_check.py receive --from {local}"
        )
        timeout = 570 if last else 60
        lines.append(f"{i + 1}. carry {json.dumps(carry)}, timeout_s {timeout}: `{cmd}`")
    return "\n".join(lines) + "\n"


def _size(artifact: dict[str, Any]) -> int:
    return sum(f.stat().st_size for f in artifact["files"].values())


def prepare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    work, parts_dir = out / "work", out / "parts"
    models = [m for m in args.models.split(",") if m]
    precisions = ["fp32"] + ([] if args.no_fp16 else ["fp16"])
    artifacts = [make_artifact(m, p, work, args.reuse) for m in models for p in precisions]
    wheels: list[Path] = [build_p2o_wheel(work / "p2o-wheel")]
    carry, problems = to_carry(wheels[0])
    for problem in problems:
        say(f"WARNING: {problem}")
    if args.download:
        wheels += [download(spec, work / "wheels") for spec in carry]
    else:
        say(f"not downloading {', '.join(carry)} (--no-download)")
    wheels += [Path(w) for w in args.wheel]
    members: list[tuple[str, Path]] = [(f"wheels/{w.name}", w) for w in wheels]
    plan_models: list[dict[str, Any]] = []
    # fp32 first, smallest first: calls cut short still leave whole files to run
    for a in sorted(artifacts, key=lambda a: (a["precision"] != "fp32", _size(a))):
        stem = f"models/{a['model']}/{a['precision']}"
        names = {"onnx": f"{stem}.onnx", "golden": f"{stem}.golden.npz"}
        members += [(names[k], a["files"][k]) for k in ("onnx", "golden")]
        plan_models.append({k: v for k, v in a.items() if k != "files"} | names)
    plan = {
        "format": PLAN_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": _git_head(),
        "golden_batches": GOLDEN_BATCHES,
        "bench_batches": BENCH_BATCHES,
        "wheels": [w.name for w in wheels],
        "not_downloaded": [] if args.download else carry,
        "problems": problems,
        "artifacts": plan_models,
    }
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(work / PLAN, json.dumps(plan, indent=1))
    bundle = work / BUNDLE
    tar_bundle(bundle, [(PLAN, work / PLAN), *members])
    parts = split(bundle, parts_dir, int(args.part_mib * 2**20))
    manifest = {
        "format": PARTS_FORMAT,
        "bundle_sha256": sha256_file(bundle),
        "bundle_bytes": bundle.stat().st_size,
        "parts": parts,
    }
    bundle.unlink()
    write_atomic(parts_dir / MANIFEST, json.dumps(manifest, indent=1))
    calls = calls_text(parts, Path(args.local_parts or parts_dir))
    write_atomic(out / "CALLS.md", calls)
    total = manifest["bundle_bytes"] / 2**20
    say(f"{len(parts)} parts, {total:.0f} MiB in all, in {parts_dir}; calls in {out / 'CALLS.md'}")
    print(calls, end="")
    return 0


def _git_head() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        proc = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        return proc.stdout.strip() or None
    return None


# --------------------------------------------------------------------------- receive


def load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Refused(f"no readable {MANIFEST} in {folder} ({exc})") from exc
    if data.get("format") != PARTS_FORMAT:
        raise Refused(f"{path} is not a p2o parts manifest")
    return data


def receive(source: Path, stash: Path) -> list[str]:
    """Copy the parts carried in ``source`` into ``stash`` once their SHA-256 matches."""
    if not (source / MANIFEST).is_file():
        return []
    manifest = load_manifest(source)
    stash.mkdir(parents=True, exist_ok=True)
    if (stash / MANIFEST).is_file():
        kept = load_manifest(stash)
        if kept.get("bundle_sha256") != manifest["bundle_sha256"]:
            say(f"{stash} held the parts of another bundle: replaced")
            shutil.rmtree(stash)
            stash.mkdir(parents=True)
    if not ((stash / MANIFEST).exists() and (stash / MANIFEST).samefile(source / MANIFEST)):
        shutil.copyfile(source / MANIFEST, stash / MANIFEST)
    moved = []
    for part in manifest["parts"]:
        p = source / part["name"]
        if not p.is_file():
            continue
        got = sha256_file(p)
        if got != part["sha256"]:
            raise Refused(f"{p}: sha256 {got[:12]} is not the manifest's {part['sha256'][:12]}")
        kept = stash / part["name"]
        if not (kept.exists() and kept.samefile(p)):
            shutil.copyfile(p, kept.with_name(kept.name + ".tmp"))
            os.replace(kept.with_name(kept.name + ".tmp"), kept)
        moved.append(part["name"])
    have = [p["name"] for p in manifest["parts"] if (stash / p["name"]).is_file()]
    say(
        f"received {', '.join(moved) or 'nothing'}; {len(have)}/{len(manifest['parts'])} parts held"
    )
    return moved


def receive_cmd(args: argparse.Namespace) -> int:
    receive(Path(args.source), Path(args.parts))
    return 0


# --------------------------------------------------------------------------- run


class Chain:
    """The parts, read one after the other as one file."""

    def __init__(self, files: list[Path]) -> None:
        self._files = iter(files)
        self._f: Any = None

    def read(self, n: int = -1) -> bytes:
        out = b""
        while n < 0 or len(out) < n:
            if self._f is None:
                nxt = next(self._files, None)
                if nxt is None:
                    break
                self._f = open(nxt, "rb")
            block = self._f.read(-1 if n < 0 else n - len(out))
            if not block:
                self._f.close()
                self._f = None
                continue
            out += block
        return out


def join_and_extract(stash: Path, dest: Path) -> dict[str, Any]:
    """Check the parts held and extract every whole file of the bundle they hold.

    All parts: the bundle's SHA-256 must match. A missing tail (not all calls made) still
    gives what lies in the parts before it; a gap or a corrupt part refuses.
    """
    manifest = load_manifest(stash)
    held = []
    for part in manifest["parts"]:
        p = stash / part["name"]
        if not p.is_file():
            break
        got = sha256_file(p)
        if got != part["sha256"]:
            raise Refused(f"{p}: sha256 {got[:12]} is not the manifest's {part['sha256'][:12]}")
        held.append(p)
    later = [p["name"] for p in manifest["parts"][len(held) :] if (stash / p["name"]).is_file()]
    if later:
        raise Refused(f"parts {', '.join(later)} held but an earlier one is missing")
    if not held:
        raise Refused(f"no part of the bundle in {stash} (receive them first)")
    complete = len(held) == len(manifest["parts"])
    if complete:
        h = hashlib.sha256()
        for p in held:
            h.update(p.read_bytes())
        if h.hexdigest() != manifest["bundle_sha256"]:
            raise Refused("the joined parts do not have the bundle's sha256")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    extracted = []
    with tarfile.open(fileobj=Chain(held), mode="r|") as tar:  # type: ignore[call-overload]
        try:
            for member in tar:
                if (
                    not member.isfile()
                    or member.name.startswith(("/", ".."))
                    or ".." in member.name
                ):
                    continue
                target = dest / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                tmp = target.with_name(target.name + ".part")
                with open(tmp, "wb") as f:
                    shutil.copyfileobj(src, f)
                if tmp.stat().st_size != member.size:
                    tmp.unlink()
                    break
                os.replace(tmp, target)
                extracted.append(member.name)
        except (tarfile.ReadError, EOFError, OSError):
            if complete:
                raise
    return {
        "parts": f"{len(held)}/{len(manifest['parts'])}",
        "complete": complete,
        "bundle_sha256": manifest["bundle_sha256"],
        "files": extracted,
    }


BLOCKER = f'''"""Written by device_check.py --dry-run: the GPU machine has none of these."""
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (dry run)", name=name)
        return None
sys.meta_path.insert(0, _Block())
'''


def make_env(venv: Path, wheels: list[Path], dry_run: bool) -> tuple[Path, dict[str, str], dict]:
    """A venv that sees this interpreter's packages, with the wheels installed in it.

    ``--system-site-packages`` alone would give the *base* interpreter's packages, and the
    image's python3 is itself a venv: its site-packages are added by a ``.pth`` file. Where
    no venv can be made, the wheels go into a folder put first on PYTHONPATH instead.
    Returns (the python to run, environment to add, what was done).
    """
    import site

    info: dict[str, Any] = {}
    if venv.exists():
        shutil.rmtree(venv)
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    extra_env: dict[str, str] = {}
    if made.returncode == 0:
        python = venv / "bin" / "python"
        where = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        )
        site_dir = Path(where.stdout.strip())
        outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (site_dir / "_device_check_outer.pth").write_text("\n".join(outer) + "\n")
        info |= {"venv": str(venv), "outer_site_packages": outer}
        if dry_run:
            (site_dir / "_device_check_block.py").write_text(BLOCKER)
            (site_dir / "_device_check_block.pth").write_text("import _device_check_block\n")
            info["blocked"] = list(BLOCKED)
    else:  # e.g. a Python without its venv module
        python, site_dir = Path(sys.executable), venv / "site"
        site_dir.mkdir(parents=True)
        extra_env["PYTHONPATH"] = str(site_dir)
        info["no_venv"] = (made.stderr.strip().splitlines() or ["?"])[-1]
        if dry_run:
            (site_dir / "sitecustomize.py").write_text(BLOCKER)
            info["blocked"] = list(BLOCKED)
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile"]
    cmd += ["--disable-pip-version-check", "-q", "--target", str(site_dir)]
    subprocess.run([*cmd, *map(str, wheels)], check=True)
    info |= {"site": str(site_dir), "installed": [w.name for w in wheels]}
    return python, extra_env, info


def installable_here(wheel: Path) -> bool:
    """Whether ``wheel``'s tags fit this interpreter (True when packaging cannot tell)."""
    try:
        from packaging.tags import sys_tags
        from packaging.utils import parse_wheel_filename
    except ImportError:
        return True
    supported = set(sys_tags())
    return any(tag in supported for tag in parse_wheel_filename(wheel.name)[3])


def library_path(python: Path) -> str:
    """LD_LIBRARY_PATH with the ``lib`` folders of the image's ``nvidia-*`` wheels first."""
    code = (
        "import sys, pathlib\n"
        "seen = []\n"
        "for p in sys.path:\n"
        "    base = pathlib.Path(p) / 'nvidia'\n"
        "    if base.is_dir():\n"
        "        for lib in sorted(base.glob('**/lib')):\n"
        "            if any(lib.glob('*.so*')) and str(lib) not in seen:\n"
        "                seen.append(str(lib))\n"
        "print(':'.join(seen))\n"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    found = [p for p in proc.stdout.strip().split(":") if p]
    old = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    return ":".join(found + old)


class Runner:
    """Runs the steps, keeps their records, rewrites results.json / summary.md after each."""

    def __init__(self, out: Path, python: Path | None, env: dict[str, str], deadline: float):
        self.out, self.python, self.env, self.deadline = out, python, env, deadline
        self.results: dict[str, Any] = {"steps": [], "verify": [], "bench": [], "notes": []}
        self.log = out / "log.txt"

    def p2o(self, name: str, args: list[str], timeout: float = 300) -> dict[str, Any]:
        left = self.deadline - time.monotonic()
        step: dict[str, Any] = {"name": name, "argv": ["p2o", *args]}
        if left < 20:
            step |= {"exit_code": None, "skipped": "the run's deadline came first"}
            self.results["steps"].append(step)
            return step
        assert self.python is not None
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                [str(self.python), "-m", "p2o.cli", *args],
                capture_output=True,
                text=True,
                env=self.env,
                timeout=min(timeout, left - 10),
                check=False,
            )
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code = None
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            stderr = "timed out\n"
        step |= {"exit_code": code, "seconds": round(time.monotonic() - t0, 2)}
        try:
            step["json"] = json.loads(stdout)
        except ValueError:
            step["stdout_tail"] = stdout[-2000:]
        step["stderr_tail"] = stderr[-2000:]
        with open(self.log, "a") as f:
            f.write(f"$ p2o {' '.join(args)}\n[exit {code}, {step['seconds']} s]\n{stderr}\n")
        self.results["steps"].append(step)
        return step

    def save(self) -> None:
        write_atomic(self.out / "results.json", json.dumps(self.results, indent=1, default=str))
        write_atomic(self.out / "summary.md", summary_md(self.results))


def machine_facts(python: Path | None, env: dict[str, str]) -> dict[str, Any]:
    facts: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version()}
    smi = shutil.which("nvidia-smi")
    if smi:
        q = "--query-gpu=name,driver_version,memory.total"
        proc = subprocess.run([smi, q, "--format=csv,noheader"], capture_output=True, text=True)
        facts["gpu"] = proc.stdout.strip() or proc.stderr.strip()
    else:
        facts["gpu"] = "no nvidia-smi on PATH"
    if python is not None:
        code = (
            "import json, onnx, onnxruntime as o, p2o\n"
            "print(json.dumps({'onnxruntime': o.__version__, 'onnxruntime_from': o.__file__,"
            " 'providers': o.get_available_providers(), 'onnx': onnx.__version__,"
            " 'p2o': p2o.__version__, 'p2o_from': p2o.__file__}))"
        )
        proc = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, env=env, check=False
        )
        try:
            facts |= json.loads(proc.stdout)
        except ValueError:
            facts["import_error"] = proc.stderr.strip().splitlines()[-1:] or ["?"]
    return facts


def verify_rows(step: dict[str, Any], artifact: dict[str, Any]) -> list[dict[str, Any]]:
    data = step.get("json") or {}
    rows = []
    for r in data.get("results", []):
        outs = r.get("outputs") or [{}]
        worst = max(outs, key=lambda o: o.get("max_abs_error") or 0.0)
        settings = r.get("settings") or {}
        options = settings.get("provider_options") or {}
        cuda = options.get("CUDAExecutionProvider") or {}
        rows.append(
            {
                "model": artifact["model"],
                "precision": artifact["precision"],
                "runtime": r.get("runtime"),
                "batch": settings.get("batch"),
                "status": r.get("status"),
                "reason": r.get("reason", ""),
                "max_abs": worst.get("max_abs_error"),
                "cosine": worst.get("cosine_similarity"),
                "top1": worst.get("top1_agreement"),
                "min_tolerance": r.get("min_tolerance"),
                "use_tf32": cuda.get("use_tf32"),
            }
        )
    return rows or [_error_row(step, artifact)]


def bench_rows(step: dict[str, Any], artifact: dict[str, Any]) -> list[dict[str, Any]]:
    data = step.get("json") or {}
    rows = []
    for t in data.get("timings", []):
        lat = t.get("latency") or {}
        rows.append(
            {
                "model": artifact["model"],
                "precision": artifact["precision"],
                "runtime": t.get("runtime"),
                "batch": t.get("batch"),
                "status": t.get("status"),
                "reason": t.get("reason", ""),
                "p50_ms": lat.get("p50_ms"),
                "p90_ms": lat.get("p90_ms"),
                "images_per_s": lat.get("throughput"),
                "build_s": t.get("build_seconds"),
                "transfers": t.get("transfers") or {},
            }
        )
    return rows or [_error_row(step, artifact)]


def _error_row(step: dict[str, Any], artifact: dict[str, Any]) -> dict[str, Any]:
    """The one row of a step that produced no result (its last log line says why)."""
    return {
        "model": artifact["model"],
        "precision": artifact["precision"],
        "runtime": "-",
        "status": "error",
        "reason": _last_line(step),
    }


def _last_line(step: dict[str, Any]) -> str:
    if step.get("skipped"):
        return str(step["skipped"])
    lines = [ln for ln in (step.get("stderr_tail") or "").splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {step.get('exit_code')}"


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.txt").write_text("")
    stash, work = Path(args.parts), Path(args.work)
    gpu = ["ort-cpu"] if args.dry_run else ["ort-cuda"]
    trt = [] if args.dry_run else ["ort-trt"]
    r = Runner(out, None, dict(os.environ), started + args.deadline)
    r.results |= {"format": "p2o-device-check/1", "dry_run": args.dry_run}
    try:
        received = receive(Path(args.source), stash) if args.source else []
        bundle = join_and_extract(stash, work / "bundle")
    except Refused as exc:
        print(f"device_check: error: {exc}", file=sys.stderr)
        r.results["error"] = str(exc)
        r.save()
        return 2
    r.results["bundle"] = bundle | {"received_now": received}
    plan_file = work / "bundle" / PLAN
    if not plan_file.is_file():
        print("device_check: error: the bundle holds no plan.json", file=sys.stderr)
        return 2
    plan = json.loads(plan_file.read_text())
    r.results["plan"] = {k: plan.get(k) for k in ("created", "git", "wheels", "problems")}
    wheels = [work / "bundle" / "wheels" / w for w in plan["wheels"]]
    wheels = [w for w in wheels if w.is_file()]
    if args.dry_run:  # e.g. onnxruntime-gpu for the GPU machine's Python 3.12: not here
        foreign = [w for w in wheels if not installable_here(w)]
        wheels = [w for w in wheels if w not in foreign]
        r.results["notes"] += [
            f"dry run: {w.name} is not for this Python; not installed" for w in foreign
        ]
    try:
        python, extra_env, install = make_env(work / "venv", wheels, args.dry_run)
    except (OSError, subprocess.CalledProcessError) as exc:
        r.results["error"] = f"the wheels could not be installed: {exc}"
        print(f"device_check: error: {r.results['error']}", file=sys.stderr)
        r.save()
        return 2
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel's p2o only
    env |= extra_env | {"PYTHONUNBUFFERED": "1"}
    env["LD_LIBRARY_PATH"] = library_path(python)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    r.python, r.env = python, env
    r.results["install"] = install
    r.results["machine"] = machine_facts(python, env)
    r.save()

    step = r.p2o("runtimes", ["runtimes", "--json"], timeout=60)
    r.results["runtimes"] = step.get("json")
    r.save()
    present = [
        a | {"onnx_path": work / "bundle" / a["onnx"], "golden_path": work / "bundle" / a["golden"]}
        for a in plan["artifacts"]
    ]
    missing = [a for a in present if not (a["onnx_path"].is_file() and a["golden_path"].is_file())]
    for a in missing:
        r.results["notes"].append(f"{a['model']} {a['precision']}: not in the parts received")
    present = [a for a in present if a not in missing]
    if args.dry_run:
        r.results["notes"].append("dry run: ort-cpu stands in for ort-cuda; ort-trt not run")
    # fp32 first (the verdicts that matter most), then fp16; verify before bench
    present.sort(key=lambda a: (a["precision"] != "fp32", a["model"]))
    for a in present:
        runtimes = gpu + (trt if a["precision"] == "fp32" else [])
        args_ = ["verify", "--onnx", str(a["onnx_path"]), "--golden", str(a["golden_path"])]
        args_ += ["--runtimes", ",".join(runtimes), "--json", "-q"]
        step = r.p2o(f"verify {a['model']} {a['precision']}", args_)
        r.results["verify"] += verify_rows(step, a)
        r.save()
    for a in present:
        args_ = ["bench", "--onnx", str(a["onnx_path"]), "--runtimes", ",".join(gpu)]
        args_ += ["--batch", plan.get("bench_batches", BENCH_BATCHES), "--json", "-q"]
        args_ += ["--warmup", str(args.warmup), "--iters", str(args.iters)]
        step = r.p2o(f"bench {a['model']} {a['precision']}", args_)
        r.results["bench"] += bench_rows(step, a)
        r.save()
    statuses = [row["status"] for row in r.results["verify"]]
    broken = [s for s in r.results["steps"] if s.get("exit_code") not in (0, 1)]
    failed = any(s in ("failed", "error") for s in statuses) or bool(broken) or not statuses
    r.results["exit_code"] = 1 if failed else 0
    r.results["seconds"] = round(time.monotonic() - started, 1)
    r.save()
    say(f"{'FAILED' if failed else 'passed'}; {out / 'summary.md'}")
    return int(r.results["exit_code"])


# --------------------------------------------------------------------------- summary


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")  # a table cell


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def summary_md(res: dict[str, Any]) -> str:
    m = res.get("machine") or {}
    title = "p2o device check" + (
        " (dry run: ort-cpu in place of the GPU runtimes)" if res.get("dry_run") else ""
    )
    lines = [f"# {title}", ""]
    if res.get("error"):
        lines += [f"**Refused:** {res['error']}", ""]
    lines += [
        f"- GPU: {m.get('gpu', '?')}",
        f"- onnxruntime {m.get('onnxruntime', '?')} ({', '.join(m.get('providers') or [])}),"
        f" onnx {m.get('onnx', '?')}, p2o {m.get('p2o', '?')}, Python {m.get('python', '?')}",
        f"- bundle: parts {(res.get('bundle') or {}).get('parts', '?')}, made "
        f"{(res.get('plan') or {}).get('created', '?')} from git "
        f"{str((res.get('plan') or {}).get('git') or '?')[:12]}",
    ]
    if "exit_code" in res:
        verdict = "passed" if res["exit_code"] == 0 else "FAILED"
        lines.append(f"- verdict: {verdict} in {res.get('seconds')} s")
    lines.append("")
    if res.get("runtimes"):
        lines += ["## Runtimes", "", "| runtime | available | reason |", "|---|---|---|"]
        for row in res["runtimes"]:
            ok = "yes" if row.get("available") else "no"
            lines.append(f"| {row.get('name')} | {ok} | {_short(row.get('reason', ''))} |")
        lines.append("")
    if res.get("verify"):
        lines += [
            "## Verify against the golden outputs (Paddle fp32 on the CPU)",
            "",
            "| model | artifact | runtime | batch | status | max abs | cosine | top-1 | min tol "
            "| TF32 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for v in res["verify"]:
            status = v["status"] + (f": {_short(v['reason'])}" if v.get("reason") else "")
            tf32 = {"0": "off", "1": "on"}.get(str(v.get("use_tf32")), "-")
            lines.append(
                f"| {v['model']} | {v['precision']} | {v['runtime']} | {v.get('batch', '-')} | "
                f"{status} | {_num(v.get('max_abs'), '.2e')} | {_num(v.get('cosine'), '.7f')} | "
                f"{_num(v.get('top1'), '.0%')} | {_num(v.get('min_tolerance'), '.1e')} | {tf32} |"
            )
        lines.append("")
    if res.get("bench"):
        lines += [
            "## Latency (IO binding on the GPU; copies to and from the device apart)",
            "",
            "| model | artifact | runtime | batch | p50 ms | p90 ms | images/s | build s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for b in res["bench"]:
            if b.get("status") not in ("passed", "ok", None) and b.get("p50_ms") is None:
                lines.append(
                    f"| {b['model']} | {b['precision']} | {b['runtime']} | {b.get('batch', '-')} "
                    f"| {b['status']}: {_short(b.get('reason', ''))} | | | |"
                )
                continue
            lines.append(
                f"| {b['model']} | {b['precision']} | {b['runtime']} | {b['batch']} | "
                f"{_num(b.get('p50_ms'), '.3f')} | {_num(b.get('p90_ms'), '.3f')} | "
                f"{_num(b.get('images_per_s'), '.0f')} | {_num(b.get('build_s'), '.2f')} |"
            )
        lines.append("")
    broken = [s for s in res.get("steps", []) if s.get("exit_code") not in (0, 1)]
    if broken or res.get("notes"):
        lines += ["## Notes", ""]
        lines += [f"- {n}" for n in res.get("notes", [])]
        lines += [f"- {s['name']}: {_short(_last_line(s), 300)}" for s in broken]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="device_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make the parts here (needs Paddle and a registry)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo names")
    p.add_argument("--no-fp16", action="store_true", help="fp32 artifacts only")
    p.add_argument("--out", default="device-check", help="folder (default device-check)")
    p.add_argument("--part-mib", type=float, default=PART_MIB, help="part size (default 60)")
    p.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help=f"carry no downloaded wheel ({ORT_GPU} and what the image lacks)",
    )
    p.add_argument(
        "--wheel",
        action="append",
        default=[],
        metavar="FILE",
        help="another wheel to carry (repeatable)",
    )
    p.add_argument("--reuse", action="store_true", help="keep conversions already in --out")
    p.add_argument("--local-parts", help="the parts' path in the calls (default OUT/parts)")
    p.set_defaults(func=prepare)
    rc = sub.add_parser("receive", help="on the GPU machine: keep the carried parts")
    rc.add_argument("--from", dest="source", default=str(LOCAL_PARTS))
    rc.add_argument("--parts", default=str(STASH))
    rc.set_defaults(func=receive_cmd)
    r = sub.add_parser("run", help="on the GPU machine: join, install, verify, bench")
    r.add_argument("--out", required=True, help="output folder ($OUT on the device)")
    r.add_argument(
        "--from", dest="source", help="receive the parts carried here first (the last call)"
    )
    r.add_argument("--parts", default=str(STASH))
    r.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "p2o-device-check"))
    r.add_argument("--dry-run", action="store_true", help="ort-cpu in place of the GPU runtimes")
    r.add_argument("--warmup", type=int, default=10)
    r.add_argument("--iters", type=int, default=100)
    r.add_argument("--deadline", type=float, default=480, help="seconds before no new step")
    r.set_defaults(func=run)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except Refused as exc:
        print(f"device_check: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
