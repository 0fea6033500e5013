"""``release --out`` that cannot be a directory: exit 2, one line, nothing written."""

from __future__ import annotations

import pytest

from p2o.cli import main
from p2o.core.results import ModelRecord, Status, dumps_strict


@pytest.mark.parametrize("sub", ["", "inner"])
def test_out_naming_a_file_is_one_usage_error(tmp_path, capsys, sub):
    existing = tmp_path / "afile"
    existing.write_text("keep me")
    out = existing / sub if sub else existing
    code = main(["release", "--models", "RegNetX_200MF", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.splitlines() == [err.strip()] and err.startswith("p2o: error: --out ")
    assert "Traceback" not in err and "internal error" not in err
    assert existing.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [existing]


def test_merge_into_a_file_is_one_usage_error(tmp_path, capsys):
    shard = tmp_path / "shard" / "RegNetX_200MF"
    shard.mkdir(parents=True)
    rec = ModelRecord("RegNetX_200MF", Status.PASSED, "")
    (shard / "record.json").write_text(dumps_strict(rec))
    existing = tmp_path / "afile"
    existing.write_text("keep me")
    code = main(["release", "merge", str(tmp_path / "shard"), "--out", str(existing)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.splitlines() == [err.strip()] and err.startswith("p2o: error: --out "), err
    assert existing.read_text() == "keep me"
