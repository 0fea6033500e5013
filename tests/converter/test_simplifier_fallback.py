"""The simplifier never costs the user their model: its proof is judged against the unsimplified
graph's own float noise, an unproved simplifier falls back to the next (onnxsim → onnxslim →
none), and an explicit ``--simplifier`` keeps the strict proof."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from p2o.cli import main
from p2o.converter import ConvertOptions, convert, simplify
from p2o.core.errors import CheckFailed

NAME = "RegNetX_200MF"


def _scaled(factor: float):  # type: ignore[no-untyped-def]
    """A simplifier that simplifies, then scales the first output by ``factor`` (on purpose)."""
    real = simplify.simplify

    def scaling(model: onnx.ModelProto, tool: str) -> onnx.ModelProto:
        out = real(model, tool)
        if tool == "none":
            return out
        name = out.graph.output[0].name
        for node in out.graph.node:
            node.output[:] = [f"{o}.unscaled" if o == name else o for o in node.output]
        out.graph.initializer.append(
            onnx.helper.make_tensor("scale.factor", onnx.TensorProto.FLOAT, [], [factor])
        )
        out.graph.node.append(
            onnx.helper.make_node("Mul", [f"{name}.unscaled", "scale.factor"], [name])
        )
        return out

    return scaling


def _tiny(scale: float = 1.0) -> onnx.ModelProto:
    """y = MatMul(x, W) + b, a graph ONNX Runtime's optimizer fuses (MatMul + Add → Gemm)."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 10)) * scale).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("MatMul", ["x", "w"], ["t"]),
            onnx.helper.make_node("Add", ["t", "b"], ["y"]),
        ],
        "tiny",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 64])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 10])],
        [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")],
    )
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])


def test_noise_tolerance_is_bounded_below_and_above() -> None:
    assert simplify.noise_tolerance(0.0) == simplify.TOLERANCE
    assert simplify.noise_tolerance(math.inf) == simplify.TOLERANCE
    assert simplify.noise_tolerance(2e-5) == pytest.approx(2e-4)
    assert simplify.noise_tolerance(1.0) == simplify.NOISE_CEILING  # a real bug still fails


def test_float_noise_of_a_graph_is_small_and_a_changed_graph_is_far_beyond_it() -> None:
    model = _tiny()
    feed = {"x": np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)}
    outputs = simplify.ort_run(model, feed)
    noise = simplify.float_noise(model, feed, outputs)
    assert 0.0 <= noise < 1e-6
    # the same graph with its weights 5% larger: far beyond the noise, and refused
    changed = simplify.ort_run(_tiny(1.05), feed)
    eq = simplify.outputs_equal(outputs, changed, simplify.noise_tolerance(noise))
    assert not eq and eq.min_tolerance > 100 * simplify.noise_tolerance(noise)


@pytest.mark.slow
def test_an_unproved_simplifier_falls_back_and_the_model_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(simplify, "simplify", _scaled(1.05))
    out = tmp_path / "out"
    assert main(["convert", "--model", NAME, "-o", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    record = m["equivalence"]["simplifier"]
    assert record["used"] == "none" and record["strict"] is False
    assert set(record["tried"]) == {"onnxsim", "onnxslim"}
    assert record["float_noise"] < 1e-4  # measured, and 5e-2 is far beyond it
    assert any("simplifier used: none" in n for n in m["notes"])
    assert "simplifier used: none" in capsys.readouterr().err
    assert m["equivalence"]["min_tolerance"] <= simplify.TOLERANCE  # the graph as converted
    assert m["node_counts"]["simplified"] == m["node_counts"]["mapped"]


@pytest.mark.slow
def test_a_simplifier_within_the_graphs_float_noise_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2e-4 is above the fixed 5e-5, but within 10x a (pretend) noise of 1e-4: kept, noted."""
    monkeypatch.setattr(simplify, "simplify", _scaled(1 + 2e-4))
    monkeypatch.setattr(simplify, "float_noise", lambda *a: 1e-4)
    res = convert(ConvertOptions(NAME, out_dir=tmp_path / "out"))
    record = res.manifest.equivalence["simplifier"]
    assert record["used"] == "onnxsim" and record["noise_tolerance"] == pytest.approx(1e-3)
    assert any("proved within its float noise" in n for n in res.manifest.notes)


@pytest.mark.slow
def test_an_explicit_simplifier_is_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(simplify, "simplify", _scaled(1 + 2e-4))
    monkeypatch.setattr(simplify, "float_noise", lambda *a: 1e-4)  # never asked when strict
    out = tmp_path / "out"
    assert main(["convert", "--model", NAME, "-o", str(out), "--simplifier", "onnxsim"]) == 1
    assert "onnxsim changed the model's outputs" in capsys.readouterr().err
    assert not (out / "model.onnx").exists() and not (out / "manifest.json").exists()
    with pytest.raises(CheckFailed, match="changed the model's outputs"):
        convert(ConvertOptions(NAME, out_dir=out, strict_simplifier=True))
