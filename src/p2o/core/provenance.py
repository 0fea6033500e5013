"""Where a result comes from: when, by which command, with which tools, on which machine.

One record (``p2o.core.results.Provenance``) gathered once per run and rendered by the report
layer like every other result, so that a JSON, JUnit, Markdown or HTML report read months
later on another machine says what produced it.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from p2o.core.results import Provenance
from p2o.core.versions import tool_versions

# CPU flags that change which kernels the engines pick (and so their numbers and speed)
KERNEL_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
GIT_TIMEOUT_S = 2.0
GPU_TIMEOUT_S = 5.0


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and the kernel-relevant flags it has (Linux ``/proc/cpuinfo``)."""
    name, flags = "", set[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "model name" and not name:
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return name, [f for f in KERNEL_FLAGS if f in flags]


def gpus() -> list[str]:
    """``name, driver, CUDA`` of each NVIDIA GPU ``nvidia-smi`` lists ([] without one)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=GPU_TIMEOUT_S,
            check=True,
        ).stdout
        head = subprocess.run(
            [smi], capture_output=True, text=True, timeout=GPU_TIMEOUT_S, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    cuda = next((p.split(":")[1].split()[0] for p in head.split("|") if "CUDA Version" in p), "")
    tail = f", CUDA {cuda}" if cuda else ""
    return [f"{ln.strip()}{tail}" for ln in out.splitlines() if ln.strip()]


def git_commit() -> str | None:
    """p2o's commit when it runs from a git checkout (an editable install), else None."""
    here = Path(__file__).resolve().parent
    if not any((p / ".git").exists() for p in here.parents):
        return None
    try:
        run = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip() + ("+changes" if dirty else "")


def versions() -> dict[str, str]:
    """Every engine's and converter's version (``not installed`` where absent)."""
    out = tool_versions()
    try:  # the GPU build of ONNX Runtime is another distribution
        out["onnxruntime-gpu"] = metadata.version("onnxruntime-gpu")
    except metadata.PackageNotFoundError:
        pass
    return out


def collect(
    *,
    threads: int | None = None,
    onnx_sha256: str = "",
    weights_sha256: str = "",
    reference: str = "",
    producer: str = "",
) -> Provenance:
    """The provenance of a run starting now, in this process."""
    name, flags = cpu()
    return Provenance(
        utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        p2o=versions().get("p2o", ""),
        git_commit=git_commit(),
        versions=versions(),
        cpu=name,
        cpu_flags=flags,
        logical_cpus=os.cpu_count() or 0,
        gpus=gpus(),
        platform=platform.platform(terse=True),
        threads=threads,
        onnx_sha256=onnx_sha256,
        weights_sha256=weights_sha256,
        reference=reference,
        producer=producer,
    )
