"""nox sessions of p2o. ``nox -l`` lists them with what each does.

Default (``nox``): tests, lint, typecheck, on the Python that runs nox when p2o supports it
(3.10, 3.11, 3.12), else 3.11. Every environment installs the exact tested versions
(``constraints.txt``) except ``newest``. The others are heavier or need hardware.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ("3.10", "3.11", "3.12")
_RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"
PYTHON = _RUNNING if _RUNNING in PYTHONS else "3.11"
SOURCES = ("src", "tests", "benchmarks", "noxfile.py", ".ci")


def constraints_file(python: object) -> str:
    """The exact tested set for a Python: 3.10 has its own (numpy 2.3+ and others need 3.11)."""
    return "constraints-py310.txt" if python == "3.10" else "constraints.txt"


def pinned(session: nox.Session) -> tuple[str, str]:
    return ("-c", constraints_file(session.python))


FIRST_COMMAND = ("p2o", "verify", "--model", "RedNet26")  # the README's first command


def _pytest(session: nox.Session, *default: str) -> None:
    session.run("pytest", *(session.posargs or default))


PADDLECLAS = "paddleclas==2.6.0"  # model code of tests/support/paddleclas_archs.py


def paddleclas_wheel(session: nox.Session, required: bool) -> None:
    """Download PaddleClas's wheel (never installed: the tests import its backbone files from
    an unpacked copy) into the session's tmp dir and point ``$P2O_PADDLECLAS_WHEEL`` at it.
    Offline and not ``required``: the PaddleClas tests skip."""
    dest = Path(session.create_tmp()) / "paddleclas"
    codes = [0] if required else [0, 1, 2]
    session.run(
        "python", "-m", "pip", "download", "--no-deps", PADDLECLAS, "-d", str(dest),
        "-q", success_codes=codes, silent=not required,
    )  # fmt: skip
    wheels = sorted(dest.glob("paddleclas-*.whl"))
    if wheels:
        session.env["P2O_PADDLECLAS_WHEEL"] = str(wheels[-1])
    elif required:
        session.error(f"pip download {PADDLECLAS} left no wheel in {dest}")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite: the quick tier first (no whole-model conversion; fails fast), then
    the slow one (extra arguments replace both and go to pytest: `nox -s tests -- -k zoo`)."""
    session.install(*pinned(session), "-e", ".[cpu,dev]")
    paddleclas_wheel(session, required=False)  # a quick few PaddleClas architectures
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    session.run("pytest", "-q", "-m", "not slow")
    session.run("pytest", "-q", "-m", "slow")


@nox.session(python=PYTHON, default=False)
def quick(session: nox.Session) -> None:
    """The quick tier alone: every test but the slow ones (no whole-model conversion)."""
    session.install(*pinned(session), "-e", ".[cpu,dev]")
    _pytest(session, "-q", "-m", "not slow")


@nox.session(python=PYTHONS, default=False)
def tests_on(session: nox.Session) -> None:
    """The test suite on one supported Python: `nox -s tests_on-3.12 [-- -m "not slow"]`."""
    session.install(*pinned(session), "-e", ".[cpu,dev]")
    _pytest(session, "-q")


@nox.session(python=PYTHON, default=False, reuse_venv=False)
def newest(session: nox.Session) -> None:
    """Quick tests with the newest versions the ranges in pyproject.toml allow (no constraints).

    A fresh environment every time, so that a new release that breaks p2o shows here before
    users see it. Prints which versions differ from constraints.txt.
    """
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[cpu,dev]")
    session.run("python", ".ci/freeze_constraints.py", "--diff", constraints_file(session.python))
    _pytest(session, "-q", "-m", "not slow")


@nox.session(python=PYTHON, default=False, reuse_venv=False)
def wheel(session: nox.Session) -> None:
    """Build the wheel, install it into a fresh environment, run the README's first command.

    The wheel is installed as users install it (not editable), and the command runs from a
    folder outside the checkout, so missing package data fails here.
    """
    tmp = Path(tempfile.mkdtemp(prefix="p2o-wheel-"))
    session.install(*pinned(session), "build")
    session.run("python", "-m", "build", "--wheel", "--outdir", str(tmp / "dist"))
    (whl,) = (tmp / "dist").glob("p2o_proof-*.whl")  # the distribution p2o-proof, normalized
    session.install(*pinned(session), f"{whl}[cpu]")
    with session.chdir(tmp):
        where = session.run("python", "-c", "import p2o; print(p2o.__file__)", silent=True)
        if where is None or "site-packages" not in str(where):
            session.error(f"p2o was imported from {where!r}, not from the installed wheel")
        version = session.run("p2o", "--version", silent=True)
        if "p2o-proof" not in str(version):  # not PyPI's other `p2o` script
            session.error(f"`p2o --version` printed {version!r}, not this project's")
        session.run("p2o", "list", "RedNet*")
        session.run(*FIRST_COMMAND, *session.posargs)


@nox.session(python=["3.11", "3.10"], default=False, reuse_venv=False)
def constraints(session: nox.Session) -> None:
    """Rewrite constraints.txt (3.11) or constraints-py310.txt (3.10) from the newest versions
    the ranges allow; run the tests next."""
    session.install("--upgrade", "-e", ".[cpu,dev,ray]")  # ray: an extra tested in `nox -s ray`
    text = session.run("python", ".ci/freeze_constraints.py", "cpu", "dev", "ray", silent=True)
    Path(constraints_file(session.python)).write_text(str(text))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff, and the layers contract with import-linter."""
    session.install(*pinned(session), "ruff", "import-linter")
    session.install("--no-deps", "-e", ".")  # lint-imports reads p2o's source, imports nothing
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)
    session.run("lint-imports", "--no-cache")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy."""
    session.install(*pinned(session), "-e", ".[cpu,dev]")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def byom(session: nox.Session) -> None:
    """PaddleClas's own architectures (26, tests/support/paddleclas_archs.py) through convert
    and verify: the slow matrix. Downloads the paddleclas wheel (model code, never installed).

    Extra arguments go to pytest (`nox -s byom -- -k Swin`); the Markdown table instead:
    `python benchmarks/byom_matrix.py` with $P2O_PADDLECLAS_WHEEL set.
    """
    session.install(*pinned(session), "-e", ".[cpu,dev]")
    paddleclas_wheel(session, required=True)
    session.env["P2O_PADDLECLAS_MATRIX"] = "all"
    session.run("pytest", "-q", "tests/byom", *session.posargs)


@nox.session(python=PYTHON, default=False)
def zoo(session: nox.Session) -> None:
    """Release all 35 zoo models on CPU with synthetic weights into dist/ (convert + verify)."""
    session.install(*pinned(session), "-e", ".[cpu]")
    args = session.posargs or ["--models", "*", "--out", "dist", "--jobs", "2"]
    session.run("p2o", "release", *args)


@nox.session(python=PYTHON, default=False)
def conditioning(session: nox.Session) -> None:
    """Print, per zoo model, how trained-like and well-conditioned the synthetic weights are."""
    session.install(*pinned(session), "-e", ".[cpu]")
    session.run("python", "benchmarks/conditioning.py", *(session.posargs or ["*"]))


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Latency of Paddle Inference vs ONNX Runtime vs OpenVINO for the zoo (bs=1, 2 threads)."""
    session.install(*pinned(session), "-e", ".[cpu]")
    session.run("python", "benchmarks/bench_zoo.py", *session.posargs)
    session.run("python", "benchmarks/rednet_involution.py")


@nox.session(python=PYTHON, default=False)
def gpu(session: nox.Session) -> None:
    """Verify on GPU runtimes (ONNX Runtime CUDA and TensorRT) where present; skips cleanly if not.

    Its environment has onnxruntime-gpu and no CPU build (the two must not share one).
    Pass a converted model and golden outputs, e.g. `nox -s gpu -- --onnx m.onnx --golden g.npz`;
    without arguments RegNetX_200MF is converted and verified against Paddle.
    """
    session.install(*pinned(session), "-e", ".[gpu,paddle,openvino]")
    session.run("p2o", "runtimes")
    args = session.posargs or ["--model", "RegNetX_200MF"]
    session.run("p2o", "verify", *args, "--runtimes", "ort-cpu,ort-cuda,ort-trt")


@nox.session(python=PYTHON, default=False)
def ray(session: nox.Session) -> None:
    """`p2o release --executor ray` on a two-node Ray cluster on this machine (127.0.0.1 only):
    tests/release/test_ray_executor.py with the `ray` extra, slow tests included (~2 min).

    Extra arguments go to pytest (`nox -s ray -- -k kill`); the wall-clock comparison with the
    local executor: `python benchmarks/release_ray.py` in this session's environment.
    """
    session.install(*pinned(session), "-e", ".[cpu,dev,ray]")
    session.env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray keeps to the loopback
    _pytest(session, "-q", "tests/release/test_ray_executor.py")
