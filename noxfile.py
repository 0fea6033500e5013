"""nox sessions of p2o. ``nox -l`` lists them with what each does."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest; extra arguments go to pytest, e.g. `-- -k zoo -x`)."""
    session.install("-e", ".[dev,openvino]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff (lint + format check)."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def conditioning(session: nox.Session) -> None:
    """Print, per zoo model, how trained-like and well-conditioned the synthetic weights are."""
    session.install("-e", ".")
    session.run("python", "benchmarks/conditioning.py", *(session.posargs or ["*"]))
