"""Precision passes: fp16 keeps fp32 I/O, INT8 is QDQ, deterministic, calibrated apart from eval."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from p2o.converter import precision
from p2o.converter.precision import PrecisionOptions
from p2o.core.errors import UsageError
from p2o.zoo import crops


def small_classifier(seed: int = 0) -> onnx.ModelProto:
    """Conv(3→8, 3x3) → Relu → GlobalAveragePool → Flatten → Gemm(8→10), input 224x224."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(8) * 0.1).astype(np.float32)
    fc = (rng.standard_normal((10, 8)) * 0.5).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (b, "b"), (fc, "fc"))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def test_crop_sets_are_disjoint_and_deterministic() -> None:
    ev = crops.crop_plan("evaluation", 64)
    cal = crops.crop_plan("calibration", 64)
    assert len({c.key() for c in ev}) == 64
    assert not {c.key() for c in ev} & {c.key() for c in cal}
    assert crops.crop_plan("evaluation", 64) == ev
    # a longer request extends the set; it never changes the crops already handed out
    assert crops.crop_plan("calibration", 100)[:64][:16] == cal[:16]
    x = crops.render(ev[:3])
    assert x.shape == (3, 3, 224, 224) and x.dtype == np.float32
    assert crops.digest(x) == crops.digest(crops.render(ev[:3]))
    assert crops.digest(x) != crops.digest(crops.render(cal[:3]))


def test_options_refuse_bad_values(tmp_path) -> None:
    with pytest.raises(UsageError, match="runtime precision"):
        PrecisionOptions("bf16")
    with pytest.raises(UsageError, match="activation type"):
        PrecisionOptions("int8", activation_type="int4")
    with pytest.raises(UsageError, match="calibration folder"):
        PrecisionOptions("int8", calibration=str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="count"):
        PrecisionOptions("int8", calibration_count=0)


def test_fp16_keeps_fp32_io_and_stays_close() -> None:
    model = small_classifier()
    out, info = precision.apply(model, PrecisionOptions("fp16"))
    assert info.precision == "fp16"
    assert out.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert out.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(t.data_type == TensorProto.FLOAT16 for t in out.graph.initializer)
    assert precision.detect_model(out) == "fp16"
    x = crops.crop_batch("evaluation", 2)
    ref, got = run(model, x), run(out, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-2 * np.abs(ref).max())


@pytest.mark.slow
def test_int8_is_qdq_deterministic_and_records_calibration() -> None:
    model = small_classifier()
    opts = PrecisionOptions("int8", calibration_count=8)
    out, info = precision.apply(model, opts)
    again, _ = precision.apply(small_classifier(), opts)
    assert out.SerializeToString(deterministic=True) == again.SerializeToString(deterministic=True)
    ops = [n.op_type for n in out.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert precision.detect_model(out) == "int8"
    assert info.calibration["samples"] == 8
    assert info.calibration["sha256"] == crops.digest(crops.crop_batch("calibration", 8))
    assert info.details["activations"].startswith("uint8")
    # uint8 activations: the input's QuantizeLinear zero point is uint8
    zps = {t.name: t for t in out.graph.initializer}
    q = next(n for n in out.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x")
    assert zps[q.input[2]].data_type == TensorProto.UINT8
    _, info2 = precision.apply(small_classifier(), PrecisionOptions("int8", calibration_count=9))
    assert info2.calibration["sha256"] != info.calibration["sha256"]


def test_int8_calibration_folder(tmp_path) -> None:
    import skimage.io

    for i, c in enumerate(crops.crop_plan("calibration", 3)):
        img = crops.skimage_photo(c.photo)[c.top : c.top + c.side, c.left : c.left + c.side]
        skimage.io.imsave(tmp_path / f"{i}.png", np.ascontiguousarray(img), check_contrast=False)
    _, info = precision.apply(
        small_classifier(), PrecisionOptions("int8", calibration=str(tmp_path))
    )
    assert info.calibration["samples"] == 3
    assert str(tmp_path.resolve()) in info.calibration["source"]


@pytest.mark.slow
def test_convert_int8_cli_writes_manifest_and_same_bytes(tmp_path, capsys) -> None:
    from p2o.cli import main

    args = ["convert", "--model", "RegNetX_200MF", "--precision", "int8"]
    assert main([*args, "-o", str(tmp_path / "a"), "--calibration-count", "8"]) == 0
    out, err = capsys.readouterr()
    assert "precision int8" in err and out.strip().endswith("model.onnx")  # summary on stderr
    assert main([*args, "-o", str(tmp_path / "b"), "--calibration-count", "8"]) == 0
    a = (tmp_path / "a" / "model.onnx").read_bytes()
    assert a == (tmp_path / "b" / "model.onnx").read_bytes()
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["options"]["precision"] == "int8"
    p = m["precision"]
    assert p["precision"] == "int8" and "quantize_static" in p["method"]
    assert p["calibration"]["samples"] == 8 and len(p["calibration"]["sha256"]) == 64
    assert precision.detect(tmp_path / "a" / "model.onnx") == "int8"


def involution_classifier() -> onnx.ModelProto:
    """Conv → p2o's Involution function (kernel from a 1x1 conv) → pool → Gemm, 224x224."""
    from p2o.converter.ops import involution as inv

    rng = np.random.default_rng(3)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    wk = (rng.standard_normal((9, 4, 1, 1)) * 0.3).astype(np.float32)
    fc = (rng.standard_normal((10, 4)) * 0.5).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c", "wk"], ["k"]),
        inv.make_node(
            "c", "k", "v", kernel_size=3, stride=1, groups=1, group_channels=4, name="inv0"
        ),
        helper.make_node("GlobalAveragePool", ["v"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "inv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (wk, "wk"), (fc, "fc"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    return inv.attach(model)


def test_int8_keeps_the_involution_pad_float_for_openvino() -> None:
    model = involution_classifier()
    assert model.functions
    options = PrecisionOptions("int8", calibration_count=4, accuracy_aware=False)  # a toy
    out, info = precision.apply(model, options)
    assert not out.functions  # inlined: the quantizer does not enter function bodies
    assert not info.details["kept_float"].startswith("0 ")
    from p2o.runtimes.openvino import OpenVinoRunner

    if OpenVinoRunner.availability():
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.onnx"
            onnx.save(out, str(path))
            got = OpenVinoRunner(path, threads=1).run(crops.crop_batch("evaluation", 1))
        assert np.isfinite(next(iter(got.values()))).all()


def test_at_once_takes_all_crops_that_fit_else_equal_chunks() -> None:
    from p2o.converter.precision.int8 import at_once

    assert at_once(32, 100, limit=3200) == 32  # fits: one pass, as before
    assert at_once(32, 780, limit=12_500) == 16  # RedNet152's case, in MiB
    assert at_once(30, 7, limit=100) == 10  # the most that fit and divide 30
    assert at_once(32, 10**9, limit=1) == 1


def test_a_histogram_calibration_past_its_memory_goes_in_chunks(monkeypatch) -> None:
    """RedNet152's percentile calibration held 24 GiB and was killed; past HISTOGRAM_BYTES the
    crops go in chunks whose histograms are merged, and the manifest says so."""
    import onnxruntime.quantization as oq

    from p2o.converter.precision import int8

    seen: list[dict] = []
    real = oq.quantize_static

    def spy(*args, **kwargs):
        seen.append(kwargs.get("extra_options") or {})
        return real(*args, **kwargs)

    monkeypatch.setattr(oq, "quantize_static", spy)
    x = crops.crop_batch("calibration", 1)
    per_crop = int8.activation_bytes(small_classifier(), "x", x, None)
    assert per_crop >= 2 * 8 * 224 * 224 * 4  # the Conv's and the Relu's outputs at least
    opts = PrecisionOptions(
        "int8", calibration_method="percentile", calibration_count=8, accuracy_aware=False
    )
    whole, info = precision.apply(small_classifier(), opts)
    assert "calibration_chunks" not in info.details and seen[-1] == {}
    monkeypatch.setattr(int8, "HISTOGRAM_BYTES", 3 * per_crop)
    chunked, info = precision.apply(small_classifier(), opts)
    assert seen[-1] == {"CalibStridedMinMax": 2}
    assert info.details["calibration_chunks"].startswith("4 chunks of 2 crops")
    y = crops.crop_batch("evaluation", 4)
    a, b = run(whole, y), run(chunked, y)
    cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.99  # merged histograms: close to one pass's ranges
    monkeypatch.setattr(int8, "activation_bytes", lambda *a: pytest.fail("measured for minmax"))
    precision.apply(small_classifier(), PrecisionOptions("int8", calibration_method="minmax"))
