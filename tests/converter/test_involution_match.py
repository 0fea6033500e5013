"""A RedNet exported without p2o's markers (as PaddleClas ships it) still gets Involution nodes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import pytest

from p2o.converter import ConvertOptions, convert, ops, pipeline
from p2o.converter.export import export_static
from p2o.converter.ops import involution as op
from p2o.converter.ops.involution.match import Lowering
from p2o.core.errors import CheckFailed
from p2o.parity.verify import VerifyOptions, verify
from p2o.zoo import create_model

NAME = "RedNet26"


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RedNet26 exported with plain paddle.jit.save: no boundary markers in its graph."""
    root = tmp_path_factory.mktemp("foreign")
    export_static(create_model(NAME), root / "RedNet26_infer", (3, 224, 224))
    return root / "RedNet26_infer"


@pytest.fixture(scope="module")
def mapped(foreign: Path, tmp_path_factory: pytest.TempPathFactory) -> pipeline.ConversionResult:
    return convert(
        ConvertOptions(paddle_model=foreign, out_dir=tmp_path_factory.mktemp("out") / "m")
    )


def _involutions(path: Path) -> list[onnx.NodeProto]:
    model = onnx.load(str(path))
    return [n for n in model.graph.node if (n.domain, n.op_type) == (op.DOMAIN, op.OP_TYPE)]


@pytest.mark.slow
def test_the_unfold_lowering_is_recognised_and_mapped(mapped: pipeline.ConversionResult) -> None:
    m = mapped.manifest
    nodes = _involutions(mapped.onnx_path)
    assert len(nodes) == 9  # the stem's 3x3 and one 7x7 per bottleneck (1 + 2 + 4 + 1)
    assert m.custom_ops[0]["count"] == 9
    strides = {dict(c)["stride"] for c in m.custom_ops[0]["configurations"]}
    sizes = {dict(c)["kernel_size"] for c in m.custom_ops[0]["configurations"]}
    assert strides == {1, 2} and sizes == {3, 7}
    assert m.equivalence["mapping_max_rel"] <= 1e-5
    assert any("recognised in paddle2onnx's unfold lowering" in n for n in m.notes)
    # the same graph as p2o's own marked export of the same network
    own = convert(ConvertOptions(NAME, out_dir=mapped.onnx_path.parent.parent / "own"))
    assert own.manifest.node_counts["simplified"] == m.node_counts["simplified"]


@pytest.mark.slow
def test_the_mapped_foreign_model_matches_paddle(
    mapped: pipeline.ConversionResult, foreign: Path
) -> None:
    res = verify(
        VerifyOptions(
            onnx_file=mapped.onnx_path,
            paddle_model=foreign,
            runtimes=["ort-cpu"],
            inputs="random",
            batches=[1],
        )
    )
    assert res.exit_code == 0


@pytest.mark.slow
def test_unfold_mode_keeps_the_lowering(foreign: Path, tmp_path: Path) -> None:
    res = convert(ConvertOptions(paddle_model=foreign, out_dir=tmp_path / "u", involution="unfold"))
    assert not _involutions(res.onnx_path) and not res.manifest.custom_ops


@pytest.mark.slow
def test_a_misread_configuration_is_never_shipped(
    foreign: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the matcher to read the groups wrong, the mapping proof rejects the mapping and
    the conversion keeps paddle2onnx's (correct) lowering, saying so."""
    real = ops.REGISTRY["involution"]

    def halve_groups(model: onnx.ModelProto, program: Path | None) -> list[Lowering]:
        return [
            Lowering(
                f.x, f.kernel, f.out, f.kernel_size, f.stride, f.groups // 2, f.group_channels * 2
            )
            if f.groups % 2 == 0
            else f
            for f in real.find(model, program)
        ]

    monkeypatch.setitem(ops.REGISTRY, "involution", dataclasses.replace(real, find=halve_groups))
    res = convert(ConvertOptions(paddle_model=foreign, out_dir=tmp_path / "w"))
    assert not _involutions(res.onnx_path) and not res.manifest.custom_ops
    assert any("kept paddle2onnx's lowering" in n for n in res.manifest.notes)
    assert res.manifest.equivalence["mapping_max_rel"] is None


@pytest.mark.slow
def test_a_broken_marked_mapping_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """p2o's own marked export: a mapping that changes the outputs is a bug, never shipped."""
    real = ops.REGISTRY["involution"]

    def halve_groups(
        model: onnx.ModelProto, configs: list[dict[str, int]], target: str = "cpu"
    ) -> int:
        halved = [{**c, "groups": c["groups"] // 2 or 1} for c in configs]
        return real.map_marked(model, halved, target)

    broken = dataclasses.replace(real, map_marked=halve_groups)
    monkeypatch.setitem(ops.REGISTRY, "involution", broken)
    with pytest.raises(CheckFailed, match="mapping involutions changed"):
        convert(ConvertOptions(NAME, out_dir=tmp_path / "b"))
    assert not (tmp_path / "b" / "model.onnx").exists()


@pytest.mark.slow
def test_the_gpu_body_is_proved_and_recorded(tmp_path: Path) -> None:
    res = convert(ConvertOptions(NAME, out_dir=tmp_path / "g", involution_body="gpu"))
    m = res.manifest
    assert m.options["involution_body"] == "gpu"
    assert m.custom_ops[0]["bodies"] == {"unfold": 9}
    assert m.equivalence["mapping_max_rel"] <= 1e-5
    assert {op.body_of(n) for n in _involutions(res.onnx_path)} == {"unfold"}


@pytest.mark.slow
def test_a_wrong_body_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body that computes other numbers fails the mapping proof: nothing is written."""
    from tests.converter.test_involution_op import _broken

    monkeypatch.setitem(op._BRANCHES, "unfold", _broken(op._BRANCHES["unfold"]))
    with pytest.raises(CheckFailed, match="mapping involutions changed"):
        convert(ConvertOptions(NAME, out_dir=tmp_path / "w", involution_body="gpu"))
    assert not (tmp_path / "w" / "model.onnx").exists()
