"""Conventions every p2o command shares (help, usage errors, -q/-v, --no-cache, cache)."""

from __future__ import annotations

import json

import pytest

from p2o.cli import _common, build_parser, main
from p2o.core import cache, progress


def test_unknown_option_prints_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cache", "info", "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: p2o cache info")
    assert "unrecognized arguments: --bogus" in err


def test_quiet_verbose_and_no_cache_reach_the_library(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path))
    assert main(["cache", "info", "-q", "--no-cache"]) == 0
    assert progress.verbosity() == -1 and not cache.enabled()
    assert main(["cache", "info", "-v"]) == 0
    assert progress.verbosity() == 1 and cache.enabled()
    capsys.readouterr()


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    import numpy as np

    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path))
    cache.get_or_compute("demo", {"a": 1}, lambda: np.zeros(100))
    assert main(["cache", "info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["root"] == str(tmp_path) and data["kinds"]["demo"]["entries"] == 1
    assert main(["cache", "info"]) == 0
    out, err = capsys.readouterr()
    assert "demo" in out and str(tmp_path) in err  # the table is data, the folder a log line
    assert main(["cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 1
    assert cache.info().entries == 0


def test_help_has_no_rest_markup():
    for p in [build_parser(), *_common.subparsers_of(build_parser())]:
        text = p.format_help()
        assert "``" not in text, p.prog


def test_suggest():
    from p2o.zoo import list_models

    assert _common.suggest("RedNet51", list_models()).startswith(" (did you mean RedNet50")
    assert "Res2Net50_vd_26w_4s" in _common.suggest("res2net50", list_models())
    assert _common.suggest("ort-cpux", ["ort-cpu", "openvino"]) == " (did you mean ort-cpu?)"
    assert _common.suggest("zzzz", ["ort-cpu"]) == ""


def _options():
    import argparse

    root = build_parser()
    for p in [root, *_common.subparsers_of(root)]:
        for a in p._actions:
            if a.option_strings and not isinstance(
                a, argparse._HelpAction | argparse._VersionAction
            ):
                yield p, a


def test_every_option_has_help_and_shows_its_default():
    missing, no_default = [], []
    for p, a in _options():
        if not a.help:
            missing.append(f"{p.prog} {a.option_strings[0]}")
            continue
        text = p.formatter_class(p.prog)._get_help_string(a) % {"default": a.default}
        if (
            a.default is not None
            and a.default is not False
            and a.default != "==SUPPRESS=="
            and "default" not in text
        ):
            no_default.append(f"{p.prog} {a.option_strings[0]}")
    assert missing == [], missing
    assert no_default == [], no_default
