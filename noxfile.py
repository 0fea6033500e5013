"""nox sessions of p2o. ``nox -l`` lists them with what each does.

Default (``nox``): tests, lint, typecheck. The others are heavier or need hardware.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
SOURCES = ("src", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite with pytest (extra arguments go to pytest: `nox -s tests -- -k zoo`)."""
    session.install("-e", ".[cpu,dev]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff (lint rules and formatting)."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy."""
    session.install("-e", ".[cpu,dev]")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def zoo(session: nox.Session) -> None:
    """Release all 35 zoo models on CPU with synthetic weights into dist/ (convert + verify)."""
    session.install("-e", ".[cpu]")
    args = session.posargs or ["--models", "*", "--out", "dist", "--jobs", "2"]
    session.run("p2o", "release", *args)


@nox.session(python=PYTHON, default=False)
def conditioning(session: nox.Session) -> None:
    """Print, per zoo model, how trained-like and well-conditioned the synthetic weights are."""
    session.install("-e", ".[cpu]")
    session.run("python", "benchmarks/conditioning.py", *(session.posargs or ["*"]))


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Latency of Paddle Inference vs ONNX Runtime vs OpenVINO for the zoo (bs=1, 2 threads)."""
    session.install("-e", ".[cpu]")
    session.run("python", "benchmarks/bench_zoo.py", *session.posargs)
    session.run("python", "benchmarks/rednet_involution.py")


@nox.session(python=PYTHON, default=False)
def gpu(session: nox.Session) -> None:
    """Verify on GPU runtimes (ONNX Runtime CUDA and TensorRT) where present; skips cleanly if not.

    Its environment has onnxruntime-gpu and no CPU build (the two must not share one).
    Pass a converted model and golden outputs, e.g. `nox -s gpu -- --onnx m.onnx --golden g.npz`;
    without arguments RegNetX_200MF is converted and verified against Paddle.
    """
    session.install("-e", ".[gpu,openvino]")
    session.run("p2o", "runtimes")
    args = session.posargs or ["--model", "RegNetX_200MF"]
    session.run("p2o", "verify", *args, "--runtimes", "ort-cpu,ort-cuda,ort-trt")
