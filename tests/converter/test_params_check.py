"""The parameters file against its program: each failure named in one line, before conversion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from p2o.converter.params_check import check_params, read_program
from p2o.core.errors import UsageError


@pytest.fixture
def model(byom: Path, tmp_path: Path) -> Path:
    d = tmp_path / "m"
    shutil.copytree(byom / "mobile", d)
    return d


def test_reads_pir_and_legacy_programs_alike(byom: Path):
    pir = read_program(byom / "mobile" / "inference.json")
    legacy = read_program(byom / "mobile_legacy" / "inference.pdmodel")
    assert (pir.format, legacy.format) == ("pir", "legacy")
    assert [(t.name, t.shape, t.dtype) for t in pir.inputs] == [
        ("image", (-1, 3, -1, -1), "float32")
    ]
    assert legacy.inputs == pir.inputs
    # same network, same variables in the same (name) order, in either format
    assert [(t.shape, t.dtype) for t in pir.params] == [(t.shape, t.dtype) for t in legacy.params]
    assert [t.name for t in pir.params] == sorted(t.name for t in pir.params)
    for d, prog in ((byom / "mobile", pir), (byom / "mobile_legacy", legacy)):
        size = (d / "inference.pdiparams").stat().st_size
        assert prog.params_bytes == size  # the layout's arithmetic matches Paddle's writer
        assert check_params(prog, d / "inference.pdiparams") == size


def test_truncated_file_is_named_with_both_sizes(model: Path):
    params = model / "inference.pdiparams"
    size = params.stat().st_size
    params.write_bytes(params.read_bytes()[: size // 2])
    with pytest.raises(UsageError) as e:
        check_params(read_program(model / "inference.json"), params)
    need = f"the program inference.json needs {size:,}"
    assert str(e.value) == f"inference.pdiparams: {size // 2:,} bytes, {need} (truncated?)"


def test_padded_file(model: Path):
    params = model / "inference.pdiparams"
    params.write_bytes(params.read_bytes() + b"\0" * 100)
    with pytest.raises(UsageError, match=r"100 bytes more than its 36 tensors \(padded\?\)"):
        check_params(read_program(model / "inference.json"), params)


def test_foreign_file_names_the_first_mismatch(model: Path, byom: Path):
    shutil.copy(byom / "two_heads" / "inference.pdiparams", model / "inference.pdiparams")
    with pytest.raises(UsageError, match=r"tensor 1 of 36 is .*another model"):
        check_params(read_program(model / "inference.json"), model / "inference.pdiparams")


def test_garbage_and_empty_files(model: Path):
    prog = read_program(model / "inference.json")
    params = model / "inference.pdiparams"
    params.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(UsageError, match="not a Paddle parameters file"):
        check_params(prog, params)
    params.write_bytes(b"")
    with pytest.raises(UsageError, match=r"0 bytes, .* \(truncated\?\)"):
        check_params(prog, params)


def test_a_corrupt_header_in_the_middle(model: Path):
    prog = read_program(model / "inference.json")
    params = model / "inference.pdiparams"
    data = bytearray(params.read_bytes())
    second = 4 + 8 + 4 + 4 + 6 + prog.params[0].nbytes  # after the first tensor (1-D desc)
    data[second] = 7  # its version
    params.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=r"tensor 2 of 36 .* has no valid header"):
        check_params(prog, params)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("inference.json", b'{"not": "pir"}', "base_code"),
        ("inference.json", b"{ broken", "not JSON"),
        ("inference.pdmodel", b"\xff" * 64, "ProgramDesc"),
        ("inference.pdmodel", b"", "without any op"),
    ],
)
def test_a_file_that_is_no_program(tmp_path: Path, name: str, content: bytes, why: str):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UsageError, match=rf"{name}: not a Paddle program .*{why}"):
        read_program(tmp_path / name)
