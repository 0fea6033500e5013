"""The layers contract (pyproject.toml, `lint-imports`): kept by p2o, broken by a wrong-way import.

The check runs on a copy of the source tree, so the wrong-way import never touches the real one.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "p2o"
MAX_FUNCTION_IMPORTS = 15  # imports of p2o modules inside functions (docs/dev/architecture.md)


def _copy(tree: Path) -> None:
    """p2o's source and the project's contract, copied to ``tree``."""
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    shutil.copytree(SRC, tree / "src" / "p2o", ignore=shutil.ignore_patterns("__pycache__"))


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the copy at ``tree`` (its p2o first on the path)."""
    config = tree / "pyproject.toml"
    script = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'lint-imports'; "
        "from importlinter.cli import lint_imports_command; lint_imports_command()"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(tree / "src"), "--no-cache", str(config)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def linter() -> None:
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra")


def test_the_layers_are_kept(linter: None, tmp_path: Path) -> None:
    _copy(tmp_path)
    run = _lint(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "wrong_way"),
    [
        ("core/results.py", "from p2o.parity import acceptance"),  # core imports nothing above
        ("runtimes/base.py", "from p2o.parity import verify"),
        ("converter/simplify.py", "from p2o.report import html"),
    ],
)
def test_a_wrong_way_import_breaks_the_contract(
    linter: None, tmp_path: Path, module: str, wrong_way: str
) -> None:
    _copy(tmp_path)
    target = tmp_path / "src" / "p2o" / module
    target.write_text(target.read_text() + f"\n{wrong_way}  # noqa\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "BROKEN" in run.stdout or "broken" in run.stdout
    assert f"p2o.{module[:-3].replace('/', '.')}" in run.stdout


def _function_imports() -> list[str]:
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                found += [
                    f"{path.relative_to(SRC)}:{node.lineno}"
                    for n in names
                    if n == "p2o" or n.startswith("p2o.")
                ]
    return sorted(set(found))


def test_few_p2o_imports_inside_functions() -> None:
    inside = _function_imports()
    assert len(inside) <= MAX_FUNCTION_IMPORTS, inside
