"""align-groups: grouped convolutions widened to a channel block with zeros, outputs unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.converter import align_groups as pass_
from p2o.converter.align_groups import align_groups
from p2o.core.errors import CheckFailed
from tests.numerics import OP_TOLERANCE, assert_parity

GROUPS, WIDTH, CIN, COUT = 2, 12, 8, 8


def block_model(second_consumer: bool = False, bn: bool = True) -> onnx.ModelProto:
    """1x1 conv → [BN] → Relu → grouped 3x3 conv → Relu → 1x1 conv, as RegNetX's X block."""
    rng = np.random.default_rng(0)
    c = GROUPS * WIDTH

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    inits = [
        init("wa", c, CIN, 1, 1),
        init("ba", c),
        init("wg", c, WIDTH, 3, 3),
        init("bg", c),
        init("wb", COUT, c, 1, 1),
        numpy_helper.from_array(rng.uniform(0.5, 2, c).astype(np.float32), "scale"),
        init("shift", c),
        init("mean", c),
        numpy_helper.from_array(rng.uniform(0.5, 2, c).astype(np.float32), "var"),
    ]
    nodes = [helper.make_node("Conv", ["x", "wa", "ba"], ["a"], name="conv_a")]
    src = "a"
    if bn:
        nodes.append(
            helper.make_node(
                "BatchNormalization", ["a", "scale", "shift", "mean", "var"], ["n"], name="bn"
            )
        )
        src = "n"
    nodes += [
        helper.make_node("Relu", [src], ["r1"], name="relu1"),
        helper.make_node(
            "Conv", ["r1", "wg", "bg"], ["g"], name="conv_g", group=GROUPS, pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["g"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "wb"], ["y"], name="conv_b"),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, COUT, 6, 6])]
    if second_consumer:
        outputs.append(helper.make_tensor_value_info("r1", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, CIN, 6, 6])],
        outputs,
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["y"], {"x": x})[0]


X = np.random.default_rng(1).standard_normal((2, CIN, 6, 6)).astype(np.float32)


@pytest.mark.parametrize("bn", [True, False])
def test_widens_the_group_and_keeps_the_outputs(bn: bool) -> None:
    m = block_model(bn=bn)
    before = run(m, X)
    count = len(m.graph.initializer)
    report = align_groups(m, block=16, max_growth=1.5)
    assert [(w.node, w.groups, w.width, w.padded) for w in report.widened] == [
        ("conv_g", GROUPS, WIDTH, 16)
    ]
    onnx.checker.check_model(m, full_check=True)
    shapes = {t.name.split(".")[0]: tuple(t.dims) for t in m.graph.initializer}
    assert shapes["wa"] == (32, CIN, 1, 1) and shapes["wg"] == (32, 16, 3, 3)
    assert shapes["wb"] == (COUT, 32, 1, 1)
    assert len(m.graph.initializer) == count  # each replaced tensor dropped, none kept twice
    assert_parity(run(m, X), before, OP_TOLERANCE)  # equal up to float summation order


def test_a_nonzero_pad_would_change_the_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The zero fill is what keeps the outputs: the same pass filling 0.5 breaks them."""
    m = block_model()
    before = run(m, X)
    spread = pass_._spread
    monkeypatch.setattr(
        pass_, "_spread", lambda a, axis, keep, total, fill=0.0: spread(a, axis, keep, total, 0.5)
    )
    align_groups(m, block=16, max_growth=1.5)
    assert np.abs(run(m, X) - before).max() > 1e-2


def test_growth_cap_and_other_consumers_leave_the_conv_alone() -> None:
    m = block_model()
    report = align_groups(m, block=16, max_growth=1.2)  # 12 -> 16 is x1.33
    assert not report.widened and "exceeds" in report.skipped[0]
    m = block_model(second_consumer=True)  # the Relu feeding the grouped conv is an output
    before = run(m, X)
    report = align_groups(m, block=16, max_growth=1.5)
    assert not report.widened and "not between two plain convolutions" in report.skipped[0]
    np.testing.assert_array_equal(run(m, X), before)
    assert not align_groups(block_model(), block=12).widened  # already a multiple


@pytest.fixture
def generous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let RegNetX_200MF (8 channels per group) be widened to 16 so a small model exercises it."""
    monkeypatch.setattr(pass_, "DEFAULT_MAX_GROWTH", 2.0)


@pytest.mark.slow
def test_convert_with_align_groups_writes_a_verified_model(generous: None, tmp_path: Path) -> None:
    res = convert(
        ConvertOptions("RegNetX_200MF", out_dir=tmp_path / "RegNetX_200MF", align_groups=16)
    )
    m = res.manifest
    assert m.options["align_groups"] == 16
    assert len(m.align_groups["widened"]) == 13 and m.align_groups["block"] == 16
    assert {(w["width"], w["padded"]) for w in m.align_groups["widened"]} == {(8, 16)}
    assert m.equivalence["max_rel"] <= 1e-5
    model = onnx.load(str(res.onnx_path))
    dims = {t.name: tuple(t.dims) for t in model.graph.initializer}
    grouped = [
        n
        for n in model.graph.node
        if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
    ]
    assert len(grouped) == 13 and all(dims[n.input[1]][1] == 16 for n in grouped)
    code = main(
        [
            "verify",
            "--onnx",
            str(res.onnx_path),
            "--model",
            "RegNetX_200MF",
            "--runtimes",
            "ort-cpu",
            "--batch",
            "1",
        ]
    )
    assert code == 0


@pytest.mark.slow
def test_convert_refuses_an_aligned_model_whose_outputs_changed(
    generous: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spread = pass_._spread
    monkeypatch.setattr(
        pass_, "_spread", lambda a, axis, keep, total, fill=0.0: spread(a, axis, keep, total, 0.5)
    )
    with pytest.raises(CheckFailed, match="aligning grouped convolutions changed"):
        convert(ConvertOptions("RegNetX_200MF", out_dir=tmp_path / "b", align_groups=16))
    assert not (tmp_path / "b" / "model.onnx").exists()


def test_bad_block_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["convert", "--model", "RegNetX_200MF", "--align-groups", "1", "-o", str(tmp_path)])
    assert code == 2
    assert "--align-groups" in capsys.readouterr().err
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.slow
def test_verify_and_bench_do_not_reuse_an_aligned_conversion_as_the_default(
    generous: None, tmp_path: Path
) -> None:
    from p2o.converter.manifest import Manifest
    from p2o.parity import subject

    convert(ConvertOptions("RegNetX_200MF", out_dir=tmp_path / "RegNetX_200MF", align_groups=16))
    ref = subject.zoo_reference("RegNetX_200MF")
    path = subject.ensure_onnx(ref, None, 0, tmp_path)  # must convert again, plainly
    assert Manifest.load(path.with_name("manifest.json")).options["align_groups"] == 0
    stamp = path.stat().st_mtime_ns
    assert subject.ensure_onnx(ref, None, 0, tmp_path) == path  # now reused as is
    assert path.stat().st_mtime_ns == stamp


def test_the_equivalence_proof_refuses_a_model_that_no_longer_runs() -> None:
    """A pass that leaves a grouped conv whose channels its groups do not divide."""
    from p2o.converter.simplify import equivalence

    m = block_model(bn=False)
    broken = onnx.ModelProto()
    broken.CopyFrom(m)
    conv_g = next(n for n in broken.graph.node if n.name == "conv_g")
    next(a for a in conv_g.attribute if a.name == "group").i = 5  # 24 channels
    eq = equivalence(m, broken, {"x": X})
    assert not eq and eq.error and "no longer runs" in eq.describe()
    assert equivalence(m, m, {"x": X})  # and a model is equivalent to itself
