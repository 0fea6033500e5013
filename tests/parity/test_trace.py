"""The first diverging op of any Paddle model, from its program (``p2o.parity.trace``): three
non-zoo architectures, each converted and broken on purpose in one node (a mid-graph Conv
weight ×1.05, a Cast removed, a Softmax over another axis), are localized to that node, and
the repro bundle (ONNX's test-data layout) replays on ONNX Runtime to the same mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.core.tolerance import min_tolerance
from p2o.parity import trace
from tests.support import paddleclas_archs as pa
from tests.support.break_onnx import change_softmax_axis, remove_cast, scale_conv_weight


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace")


def _arch(name: str, build_dir: Path) -> tuple[Path, Path]:
    """A PaddleClas architecture exported and converted (skipped without the wheel)."""
    wheel = pa.find_wheel()
    if wheel is None:
        pytest.skip(pa.missing_reason() or "no PaddleClas wheel")
    model_dir = pa.export(name, build_dir / name, wheel, build_dir / ".paddleclas")
    res = convert(ConvertOptions(paddle_model=model_dir, out_dir=build_dir / f"{name}.onnx"))
    return model_dir, res.onnx_path


def _quantizing_net(out: Path) -> Path:
    """A small classifier that rounds its features to 1/8 (cast to int32 and back): the
    truncation a dropped Cast loses."""
    import paddle

    from p2o.converter.export import export_static

    class Net(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = paddle.nn.Conv2D(3, 8, 3, padding=1)
            self.conv2 = paddle.nn.Conv2D(8, 8, 3, padding=1)
            self.fc = paddle.nn.Linear(8, 10)

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            y = paddle.nn.functional.relu(self.conv1(x)) * 8.0
            y = paddle.cast(paddle.cast(y, "int32"), "float32") / 8.0
            y = paddle.nn.functional.relu(self.conv2(y))
            return self.fc(paddle.flatten(paddle.nn.functional.adaptive_avg_pool2d(y, 1), 1))

    paddle.seed(0)
    export_static(Net(), out, input_shape=(3, 32, 32))
    return out


def _check(
    onnx_path: Path,
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    broken_node: str,
    extra: list[str] = (),  # type: ignore[assignment]
) -> dict:
    repro = tmp_path / "repro"
    capsys.readouterr()
    args = ["verify", "--onnx", str(onnx_path), "--paddle-model", str(model_dir)]
    args += ["--runtimes", "ort-cpu", "--batch", "1", "--repro", str(repro), "--json", *extra]
    assert main(args) == 1
    div = json.loads(capsys.readouterr().out)["divergence"]
    assert div["source"] == "program" and div["onnx_node"] == broken_node, div
    assert broken_node in div["nodes"] and len(div["nodes"]) <= 8
    assert div["repro"] == str(repro)
    assert (repro / "model.onnx").is_file() and (
        repro / "test_data_set_0" / "output_0.pb"
    ).is_file()
    got, expected = trace.replay(repro)  # ONNX Runtime replays the bundle: the same mismatch
    replayed = min_tolerance(expected, got)
    assert replayed is not None and replayed > div["tolerance"]
    assert replayed == pytest.approx(div["rel_error"], rel=1e-2)
    return div


@pytest.mark.slow
def test_a_mid_graph_conv_weight_is_localized(
    build_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir, onnx_path = _arch("ShuffleNetV2_x1_0", build_dir)
    model = onnx.load(str(onnx_path))
    node = scale_conv_weight(model, 1.05)
    onnx.save(model, str(tmp_path / "broken.onnx"))
    div = _check(tmp_path / "broken.onnx", model_dir, tmp_path, capsys, node)
    assert div["paddle_type"] in ("pd_op.conv2d", "pd_op.depthwise_conv2d")


@pytest.mark.slow
def test_a_softmax_over_another_axis_is_localized(
    build_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir, onnx_path = _arch("DeiT_tiny_patch16_224", build_dir)
    model = onnx.load(str(onnx_path))
    node = change_softmax_axis(model, index=5, axis=1)
    onnx.save(model, str(tmp_path / "broken.onnx"))
    div = _check(tmp_path / "broken.onnx", model_dir, tmp_path, capsys, node)
    assert div["paddle_type"] == "pd_op.softmax"


@pytest.mark.slow
def test_a_removed_cast_is_localized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = _quantizing_net(tmp_path / "pd")
    onnx_path = convert(ConvertOptions(paddle_model=model_dir, out_dir=tmp_path / "c")).onnx_path
    model = onnx.load(str(onnx_path))
    to_int = next(
        n
        for n in model.graph.node
        if n.op_type == "Cast"
        and any(a.name == "to" and a.i == onnx.TensorProto.INT32 for a in n.attribute)
    )
    consumer = next(n.name for n in model.graph.node if to_int.output[0] in n.input)
    remove_cast(model, [n.name for n in model.graph.node if n.op_type == "Cast"].index(to_int.name))
    onnx.save(model, str(tmp_path / "broken.onnx"))
    # the removed Cast's value is no longer in the file: the node that now reads its input is
    # where the numbers change
    _check(
        tmp_path / "broken.onnx", model_dir, tmp_path, capsys, consumer, ["--inputs", "random:2"]
    )


@pytest.mark.slow
def test_an_intact_conversion_names_nothing(tmp_path: Path) -> None:
    """The checker's other side: every matched value of a correct conversion is within."""
    from p2o.converter.source import find_paddle_model

    model_dir = _quantizing_net(tmp_path / "pd")
    onnx_path = convert(ConvertOptions(paddle_model=model_dir, out_dir=tmp_path / "c")).onnx_path
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    t = trace.trace(onnx.load(str(onnx_path)), find_paddle_model(model_dir), x)
    assert len(t.errors) >= 3 and trace.first_divergence(t, 1e-4) is None


def test_a_repro_dir_that_is_not_empty_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x").write_text("")
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")
    code = main(
        [
            "verify",
            "--onnx",
            str(onnx_file),
            "--golden",
            str(tmp_path / "g.npz"),
            "--repro",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_legacy_pdmodel_program_is_traced(tmp_path: Path) -> None:
    """A legacy .pdmodel is translated to PIR as paddle2onnx does: the same names match."""
    from p2o.converter.source import find_paddle_model
    from tests.converter.byom_nets import export_legacy

    model_dir = export_legacy("mobile", tmp_path / "pd")
    onnx_path = convert(ConvertOptions(paddle_model=model_dir, out_dir=tmp_path / "c")).onnx_path
    files = find_paddle_model(model_dir)
    assert files.format == "legacy"
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    model = onnx.load(str(onnx_path))
    intact = trace.trace(model, files, x)
    assert len(intact.errors) >= 10 and trace.first_divergence(intact, 1e-4) is None
    node = scale_conv_weight(model, 1.05)
    found = trace.first_divergence(trace.trace(model, files, x), 1e-4)
    assert found is not None and found.divergence.onnx_node == node, found
