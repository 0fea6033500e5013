"""``p2o.parity.subject``: the ONNX file and reference, resolved by content; wrong-model guard."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.core.errors import UsageError
from p2o.parity.verify import VerifyOptions, verify
from p2o.zoo import create_model

NAME = "RegNetX_200MF"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(ConvertOptions(NAME, out_dir=tmp_path_factory.mktemp("c") / NAME)).onnx_path


def _save_weights(seed: int, path: Path) -> None:
    import paddle

    paddle.save(create_model(NAME, seed=seed).state_dict(), str(path))


@pytest.mark.slow
def test_changed_weights_at_the_same_path_are_converted_again(tmp_path: Path) -> None:
    weights = tmp_path / "w.pdparams"
    work = tmp_path / "work"
    _save_weights(0, weights)
    first = verify(
        VerifyOptions(NAME, weights=weights, work_dir=work, runtimes=["ort-cpu"], batches=[1])
    )
    assert first.exit_code == 0
    sha0 = json.loads((work / NAME / "manifest.json").read_text())["source"]["weights_sha256"]
    _save_weights(1, weights)  # same path, other content
    again = verify(
        VerifyOptions(NAME, weights=weights, work_dir=work, runtimes=["ort-cpu"], batches=[1])
    )
    assert again.exit_code == 0, again.report.reason  # e051b5f: reused the stale ONNX, exit 1
    sha1 = json.loads((work / NAME / "manifest.json").read_text())["source"]["weights_sha256"]
    assert sha1 != sha0


@pytest.mark.slow
def test_a_file_with_anothers_identity_is_refused_in_one_line(
    converted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = onnx.load(str(converted))
    for p in m.metadata_props:
        if p.key == "p2o.model":
            p.value = "ReXNet_1_0"
    other = tmp_path / "other" / "model.onnx"
    other.parent.mkdir()
    onnx.save(m, str(other))
    code = main(["verify", "--onnx", str(other), "--model", NAME, "--runtimes", "ort-cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err  # e051b5f: exit 1 and "off by inf"
    assert "conversion of ReXNet_1_0" in err[0] and f"reference is {NAME}" in err[0]
    assert "different model" in err[0]


def test_the_manifest_beside_a_file_without_identity_is_read(
    converted: Path, tmp_path: Path
) -> None:
    from p2o.parity import subject

    m = onnx.load(str(converted))
    del m.metadata_props[:]
    bare = tmp_path / "model.onnx"
    onnx.save(m, str(bare))
    ref = subject.zoo_reference(NAME, seed=1)  # same model, other weights
    assert subject.claimed_identity(bare) == {}  # no metadata, no manifest: not checked
    subject.check_identity(ref, bare)
    manifest = json.loads((converted.parent / "manifest.json").read_text())
    manifest["onnx_sha256"] = subject.sha256_file(bare)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match=r"\(its manifest.json\).*different weights"):
        subject.check_identity(ref, bare)
    manifest["onnx_sha256"] = "0" * 64  # a manifest of another file says nothing about this one
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    subject.check_identity(ref, bare)


def test_the_right_reference_passes_the_guard(converted: Path) -> None:
    from p2o.parity import subject

    subject.check_identity(subject.zoo_reference(NAME), converted)
    with pytest.raises(UsageError, match="different weights"):
        subject.check_identity(subject.zoo_reference(NAME, seed=3), converted)


def test_cached_synthetic_weights_give_the_identity_without_building(monkeypatch) -> None:
    """A repeat: the weights' checksum from the cached state equals the built network's, and
    the network is built only when something asks for it."""
    from p2o.converter.export import state_sha256
    from p2o.parity import subject

    built = state_sha256(create_model(NAME))  # fills the session's cache
    calls = []

    def counting(*a, **k):
        calls.append(a)
        return create_model(*a, **k)

    monkeypatch.setattr(subject, "create_model", counting)  # the name subject calls
    ref = subject.zoo_reference(NAME)
    assert ref.weights_sha256 == built and calls == []
    assert state_sha256(ref.net) == built and len(calls) == 1
    assert ref.net is ref.net and len(calls) == 1  # built once
