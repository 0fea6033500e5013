"""The distribution is ``p2o-proof`` (PyPI's ``p2o`` is another project with a ``p2o`` script of
its own): the metadata, the console script and ``p2o --version`` say so."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest

import p2o
from p2o.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_version_names_the_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"p2o {p2o.__version__} ")
    assert f"({p2o.DISTRIBUTION}:" in out
    assert p2o.DISTRIBUTION == "p2o-proof"


def test_installed_under_the_new_name_with_the_p2o_script() -> None:
    dist = md.distribution(p2o.DISTRIBUTION)
    assert dist.version == p2o.__version__
    scripts = [e for e in dist.entry_points if e.group == "console_scripts"]
    assert [(e.name, e.value) for e in scripts] == [("p2o", "p2o.cli:main")]
    # the extra that brings everything refers to this distribution, not PyPI's `p2o`
    assert any(r.startswith("p2o-proof[") and 'extra == "cpu"' in r for r in dist.requires or [])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_pyproject_reads_the_version_from_one_place() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == p2o.DISTRIBUTION
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "p2o.__version__"}
    cpu = project["project"]["optional-dependencies"]["cpu"]
    assert not any(r.startswith("p2o[") for r in cpu)
