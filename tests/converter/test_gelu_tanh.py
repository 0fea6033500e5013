"""The second op mapping, ``gelu_tanh`` (one file: src/p2o/converter/ops/gelu_tanh.py).

paddle2onnx 2.1.0 writes ``gelu(approximate=True)`` in the exact erf form; the mapping reads
the Paddle program, writes the tanh form Paddle computes, and proves it against its definition.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from p2o.converter import ConvertOptions, convert, ops
from p2o.converter.ops import gelu_tanh
from p2o.parity.verify import VerifyOptions, verify


def _erf_graph(n: int = 2) -> onnx.ModelProto:
    """``n`` GELUs in paddle2onnx's erf lowering, outputs named as paddle2onnx names them."""
    consts = {"sqrt2": np.sqrt(2.0), "one": 1.0, "half": 0.5}
    inits = [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items()]
    nodes, x = [], "x"
    for i in range(n):
        out = gelu_tanh.OUTPUT.format(i)
        nodes += [
            helper.make_node("Div", [x, "sqrt2"], [f"d{i}"]),
            helper.make_node("Erf", [f"d{i}"], [f"e{i}"]),
            helper.make_node("Add", [f"e{i}", "one"], [f"a{i}"]),
            helper.make_node("Mul", [x, f"a{i}"], [f"m{i}"]),
            helper.make_node("Mul", [f"m{i}", "half"], [out]),
        ]
        x = out
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [2, 64])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _program(tmp_path: Path, approximate: list[bool]) -> Path:
    """A PIR program holding only what the mapping reads: its gelu ops and their attribute."""
    ops_ = [
        {"#": "1.gelu", "A": [{"AT": {"#": "0.a_bool", "D": a}, "N": "approximate"}]}
        for a in approximate
    ]
    path = tmp_path / "inference.json"
    path.write_text(json.dumps({"program": {"regions": [{"blocks": [{"ops": ops_}]}]}}))
    return path


def _feed() -> dict[str, np.ndarray]:
    return {"x": np.linspace(-6, 6, 128, dtype=np.float32).reshape(2, 64)}


def test_only_the_approximate_gelus_are_found(tmp_path: Path) -> None:
    found = gelu_tanh.find(_erf_graph(), _program(tmp_path, [False, True]))
    assert [f["index"] for f in found] == [1]
    assert gelu_tanh.find(_erf_graph(), None) == []  # no program: nothing to correct


def test_the_tanh_form_is_written_and_proved(tmp_path: Path) -> None:
    model = _erf_graph()
    found = gelu_tanh.find(model, _program(tmp_path, [True, True]))
    assert gelu_tanh.map_found(model, found, "cpu") == [{"index": 0}, {"index": 1}]
    assert "Erf" not in {n.op_type for n in model.graph.node}
    onnx.checker.check_model(model, full_check=True)
    eq = gelu_tanh.prove(model, found, _feed())
    assert eq.passed and eq.min_tolerance < 1e-6


def test_a_wrong_correction_fails_its_proof(tmp_path: Path, monkeypatch) -> None:
    model = _erf_graph()
    found = gelu_tanh.find(model, _program(tmp_path, [True, True]))
    monkeypatch.setattr(gelu_tanh, "CUBIC", 0.05)  # the paper's 0.044715, misremembered
    gelu_tanh.map_found(model, found, "cpu")
    monkeypatch.undo()
    assert not gelu_tanh.prove(model, found, _feed())
    untouched = _erf_graph()  # the erf form is not the approximate GELU either
    assert not gelu_tanh.prove(
        untouched, gelu_tanh.find(untouched, _program(tmp_path, [True, True])), _feed()
    )


def _net():  # a small classifier with one approximate GELU
    import paddle
    from paddle import nn

    class Net(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2D(3, 16, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            y = nn.functional.gelu(self.conv(x) * 3.0, approximate=True)
            return self.fc(self.pool(y).flatten(1))

    paddle.seed(0)
    return Net()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from p2o.converter.export import export_static

    out = tmp_path_factory.mktemp("gelu")
    net = _net()
    net.eval()
    export_static(net, out, (3, 32, 32))
    return out


@pytest.mark.slow
def test_a_model_with_an_approximate_gelu_verifies(exported: Path, tmp_path: Path) -> None:
    res = convert(ConvertOptions(paddle_model=exported, out_dir=tmp_path / "m"))
    assert [c["op_type"] for c in res.manifest.custom_ops] == ["gelu(approximate=True)"]
    assert any("gelu_tanh: paddle2onnx wrote 1 op(s)" in n for n in res.manifest.notes)
    result = verify(VerifyOptions(onnx_file=res.onnx_path, paddle_model=exported))
    assert result.exit_code == 0, result.report.reason


@pytest.mark.slow
def test_without_the_mapping_paddle2onnx_s_graph_fails_verify(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the mapping is for: paddle2onnx's own graph computes the exact GELU."""
    off = dataclasses.replace(ops.REGISTRY["gelu_tanh"], find=lambda model, program: [])
    monkeypatch.setitem(ops.REGISTRY, "gelu_tanh", off)
    res = convert(ConvertOptions(paddle_model=exported, out_dir=tmp_path / "m"))
    result = verify(VerifyOptions(onnx_file=res.onnx_path, paddle_model=exported))
    assert result.exit_code == 1
    assert 1e-4 < max(r.min_tolerance or 0 for r in result.report.results) < 1e-2
