"""paddle2onnx in an isolated process.

Some paddle2onnx failures abort the whole process (SIGABRT), which no ``try`` catches, and
its default post-processing (Polygraphy constant folding) pip-installs onnx-graphsurgeon.
So it runs here in a child process, with constant folding off, pip and the network fenced
off through the environment, and its log captured for the error message.

Run as ``python -m p2o.converter.paddle2onnx REQUEST.json`` (the child side).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from p2o.core.errors import P2OError
from p2o.core.files import temporary_folder

LOG_TAIL = 40  # lines of the converter's own log shown with an error


class ConversionError(P2OError):
    """paddle2onnx failed or crashed; the message carries its log tail and names ``log``, the
    file with the whole log (left under ``$TMPDIR`` on purpose)."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Paddle2OnnxResult:
    onnx_bytes: bytes
    requested_opset: int
    opset: int
    opset_raised_because: str  # empty when the requested opset sufficed
    log: str


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # nothing may install at run time, and nothing may reach the network
            "POLYGRAPHY_AUTOINSTALL_DEPS": "0",
            "PIP_NO_INDEX": "1",
            "PIP_NO_INPUT": "1",
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "no_proxy": "",
            "NO_PROXY": "",
            "GLOG_minloglevel": "1",
        }
    )
    return env


def _run_child(
    model_file: Path, params_file: Path, opset: int, auto_upgrade: bool
) -> tuple[int, bytes | None, str]:
    with temporary_folder("p2o-paddle2onnx-") as tmp:
        request = Path(tmp) / "request.json"
        out = Path(tmp) / "model.onnx"
        model_file, params_file = _staged(model_file, params_file, Path(tmp) / "paddle")
        request.write_text(
            json.dumps(
                {
                    "model_file": str(model_file),
                    "params_file": str(params_file),
                    "opset": opset,
                    "auto_upgrade": auto_upgrade,
                    "out": str(out),
                }
            )
        )
        proc = subprocess.run(
            [sys.executable, "-m", "p2o.converter.paddle2onnx", str(request)],
            env={**_child_env(), "TMPDIR": tmp},  # its own temporary files go with ours
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        log = (proc.stdout + proc.stderr).strip()
        data = out.read_bytes() if proc.returncode == 0 and out.is_file() else None
        return proc.returncode, data, log


def _staged(model_file: Path, params_file: Path, folder: Path) -> tuple[Path, Path]:
    """The two files under one stem in one folder (links), as paddle2onnx needs for a legacy
    program: it loads ``<stem>.pdmodel`` with ``<stem>.pdiparams`` whatever it is told."""
    if params_file == model_file.with_suffix(".pdiparams"):
        return model_file, params_file
    folder.mkdir()
    staged = (folder / f"model{model_file.suffix}", folder / "model.pdiparams")
    for src, dst in zip((model_file, params_file), staged, strict=True):
        try:
            dst.symlink_to(src)
        except OSError:  # no symlinks here: a copy
            shutil.copyfile(src, dst)
    return staged


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _tail(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and "Running PIR pass" not in ln]
    return "\n".join(lines[-LOG_TAIL:])


def _opset_reason(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines()]
    hits = [ln for ln in lines if re.search(r"opset|Opset|OPSET", ln) and "version" in ln.lower()]
    return " | ".join(dict.fromkeys(hits))[:800] or "paddle2onnx could not map an op at that opset"


def convert(model_file: Path, params_file: Path, opset: int) -> Paddle2OnnxResult:
    """Convert a Paddle inference model at ``opset``; raise it only when that fails.

    When the requested opset cannot express the model, the conversion is retried with
    paddle2onnx's automatic opset upgrade, and the result says so and why.
    """
    # the child runs in its own temporary directory: relative paths would point elsewhere
    model_file, params_file = Path(model_file).absolute(), Path(params_file).absolute()
    code, data, log = _run_child(model_file, params_file, opset, auto_upgrade=False)
    reason = ""
    if data is None:
        first_log = log
        code, data, log = _run_child(model_file, params_file, opset, auto_upgrade=True)
        if data is None:
            fd, log_path = tempfile.mkstemp(prefix="p2o-paddle2onnx-", suffix=".log")
            with os.fdopen(fd, "w") as f:
                f.write(first_log + "\n--- retried with automatic opset upgrade ---\n" + log)
            last = (_tail(log).splitlines() or ["(no output)"])[-1].strip()[:300]
            raise ConversionError(
                f"paddle2onnx {_describe_exit(code)} converting {model_file} "
                f"(last log line: {last}); full log: {log_path}",
                Path(log_path),
            )
        reason = _opset_reason(first_log)
    import onnx

    model = onnx.load_from_string(data)
    used = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if used == opset:
        reason = ""
    return Paddle2OnnxResult(data, opset, used, reason, log)


def _child_main(request_path: str) -> int:
    req = json.loads(Path(request_path).read_text())
    import paddle2onnx

    data = paddle2onnx.export(
        req["model_file"],
        req["params_file"],
        save_file=None,
        opset_version=req["opset"],
        auto_upgrade_opset=req["auto_upgrade"],
        enable_onnx_checker=True,
        enable_optimize=True,
        optimize_tool="None",  # no Polygraphy folding: it would pip-install packages
    )
    if not data:
        print("paddle2onnx produced no model", file=sys.stderr)
        return 3
    Path(req["out"]).write_bytes(data)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_child_main(sys.argv[1]))
    except Exception as exc:  # the parent reports the log; keep the reason in it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(3)
