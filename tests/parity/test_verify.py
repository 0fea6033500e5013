"""`p2o verify` must turn red on conversions broken on purpose, and stay green on good ones."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.converter.export import export_static
from p2o.parity.golden import Golden
from p2o.parity.verify import REFERENCE, VerifyOptions, verify
from p2o.zoo import create_model
from p2o.zoo.inputs import sample_batch

NAME = "RegNetX_200MF"


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """An unsimplified conversion: BatchNorm, Relu and the weights still as separate nodes."""
    d = tmp_path_factory.mktemp("raw")
    return convert(ConvertOptions(NAME, out_dir=d / NAME, simplifier="none")).onnx_path


@pytest.fixture(scope="module")
def paddle_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("paddle")
    export_static(create_model(NAME), d)
    return d


def _weight(model: onnx.ModelProto, name: str):
    for init in model.graph.initializer:
        if init.name == name:
            return init
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return node.attribute[0].t
    raise KeyError(name)


def _save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)


def break_conv_weight(m: onnx.ModelProto) -> None:
    conv = [n for n in m.graph.node if n.op_type == "Conv"][3]
    t = _weight(m, conv.input[1])
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(1.01), t.name))


def break_bn_epsilon(m: onnx.ModelProto) -> None:
    bn = [n for n in m.graph.node if n.op_type == "BatchNormalization"][5]
    for a in bn.attribute:
        if a.name == "epsilon":
            a.f = 1e-2


def break_remove_relu(m: onnx.ModelProto) -> None:
    relu = [n for n in m.graph.node if n.op_type == "Relu"][2]
    m.graph.node.remove(relu)
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            if x == relu.output[0]:
                n.input[i] = relu.input[0]


def break_concat_axis(m: onnx.ModelProto) -> None:
    concat = next(n for n in m.graph.node if n.op_type == "Concat")
    for a in concat.attribute:
        if a.name == "axis":
            a.i = 1 - a.i if a.i in (0, 1) else 0


BREAKERS = {
    "conv weight x1.01": break_conv_weight,
    "batchnorm epsilon": break_bn_epsilon,
    "relu removed": break_remove_relu,
    "concat axis": break_concat_axis,
}


@pytest.mark.slow
def test_the_intact_conversion_passes(raw, paddle_dir):
    code = main(
        [
            "verify",
            "--onnx",
            str(raw),
            "--paddle-model",
            str(paddle_dir),
            "--runtimes",
            "ort-cpu,openvino",
        ]
    )
    assert code == 0


@pytest.mark.parametrize("breaker", list(BREAKERS))
def test_a_broken_conversion_fails(raw, paddle_dir, tmp_path, breaker, capsys):
    m = onnx.load(str(raw))
    BREAKERS[breaker](m)
    broken = _save(m, tmp_path / "broken.onnx")
    code = main(
        [
            "verify",
            "--onnx",
            broken,
            "--paddle-model",
            str(paddle_dir),
            "--runtimes",
            "ort-cpu",
            "--json",
        ]
    )
    assert code == 1
    out = json.loads(capsys.readouterr().out, parse_constant=pytest.fail)  # strict JSON
    assert out["passed"] is False
    assert all(r["status"] in ("failed", "error") for r in out["results"])


@pytest.mark.slow
def test_softmax_axis_changed_fails(tmp_path):
    import paddle

    class WithSoftmax(paddle.nn.Layer):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return paddle.nn.functional.softmax(self.net(x), axis=-1)

    export_static(WithSoftmax(create_model(NAME)), tmp_path / "pd")
    good = convert(
        ConvertOptions(paddle_model=tmp_path / "pd", out_dir=tmp_path / "onnx")
    ).onnx_path
    assert (
        verify(
            VerifyOptions(onnx_file=good, paddle_model=tmp_path / "pd", runtimes=["ort-cpu"])
        ).exit_code
        == 0
    )
    m = onnx.load(str(good))
    sm = next(n for n in m.graph.node if n.op_type == "Softmax")
    for a in sm.attribute:
        if a.name == "axis":
            a.i = 0
    if not any(a.name == "axis" for a in sm.attribute):
        sm.attribute.append(onnx.helper.make_attribute("axis", 0))
    broken = _save(m, tmp_path / "broken.onnx")
    res = verify(
        VerifyOptions(
            onnx_file=broken, paddle_model=tmp_path / "pd", runtimes=["ort-cpu"], batches=[4]
        )
    )
    assert res.exit_code == 1


def test_skipped_input_normalization_fails(tmp_path, raw):
    """The Paddle model normalizes raw pixels itself; an ONNX file that skips that step fails."""
    import paddle

    class Normalized(paddle.nn.Layer):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.mean = paddle.to_tensor(
                np.array([0.485, 0.456, 0.406], "float32").reshape(1, 3, 1, 1) * 255
            )
            self.std = paddle.to_tensor(
                np.array([0.229, 0.224, 0.225], "float32").reshape(1, 3, 1, 1) * 255
            )

        def forward(self, x):
            return self.net((x - self.mean) / self.std)

    export_static(Normalized(create_model(NAME)), tmp_path / "pd")
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 3, 224, 224)).astype("float32")
    np.save(tmp_path / "pixels.npy", pixels)
    res = verify(
        VerifyOptions(
            onnx_file=raw,
            paddle_model=tmp_path / "pd",
            runtimes=["ort-cpu"],
            inputs=str(tmp_path / "pixels.npy"),
            batches=[1],
        )
    )
    assert res.exit_code == 1


@pytest.mark.slow
def test_failure_names_the_first_diverging_layer(raw, tmp_path):
    m = onnx.load(str(raw))
    break_conv_weight(m)
    broken = _save(m, tmp_path / "broken.onnx")
    res = verify(VerifyOptions(NAME, onnx_file=broken, runtimes=["ort-cpu"], batches=[1]))
    assert res.exit_code == 1
    d = res.divergence
    assert d is not None and d.found, res.notes
    # the 4th conv of RegNetX_200MF is the 3x3 grouped conv of the first block (s1_b1.conv1);
    # the zoo network is exported to a Paddle program and traced like any other (issue 25:
    # p2o.parity.trace), which names the program's op: the 4th pd_op.conv2d
    assert d.source == "program" and d.paddle_type == "pd_op.conv2d", d.describe()
    assert d.paddle_layer == "p2o.pd_op.conv2d.3.0", d.describe()
    broken_node = [n for n in m.graph.node if n.op_type == "Conv"][3].name
    assert (d.onnx_op, d.onnx_node) == ("Conv", broken_node), d.describe()


@pytest.mark.slow
def test_golden_roundtrip_without_paddle(raw, paddle_dir, tmp_path):
    g = tmp_path / "golden.npz"
    res = verify(
        VerifyOptions(onnx_file=raw, paddle_model=paddle_dir, runtimes=["ort-cpu"], save_golden=g)
    )
    assert res.exit_code == 0 and res.golden_saved == str(g)
    made_by = res.to_dict()["provenance"]["producer"]  # p2o's file: its manifest's converters
    assert made_by.startswith("p2o-proof ") and "(manifest: paddle2onnx " in made_by
    loaded = Golden.load(g)
    assert loaded.batches == [1, 4] and loaded.meta["reference"] == REFERENCE == "paddle-plain"
    assert len(loaded.meta["weights_sha256"]) == 64
    assert (
        verify(VerifyOptions(onnx_file=raw, golden=g, runtimes=["ort-cpu", "openvino"])).exit_code
        == 0
    )
    # outputs that are not the model's (same identity): the check fails
    for outs in loaded.outputs.values():
        for name in outs:
            outs[name] = outs[name] * np.float32(1.01)
    wrong = loaded.save(tmp_path / "wrong-outputs.npz")
    assert verify(VerifyOptions(onnx_file=raw, golden=wrong, runtimes=["ort-cpu"])).exit_code == 1


YML_HALF = """\
PreProcess:
  transform_ops:
  - ResizeImage:
      resize_short: 256
  - CropImage:
      size: 224
  - NormalizeImage:
      scale: 0.00392156862745098
      mean: [0.5, 0.5, 0.5]
      std: [0.5, 0.5, 0.5]
      order: ''
  - ToCHWImage: null
"""


@pytest.mark.slow
def test_golden_identity_refuses_another_onnx_file(raw, paddle_dir, tmp_path, capsys):
    g = tmp_path / "golden.npz"
    verify(
        VerifyOptions(
            onnx_file=raw, paddle_model=paddle_dir, runtimes=["ort-cpu"], batches=[1], save_golden=g
        )
    )
    meta = Golden.load(g).meta
    assert meta["format"] == "p2o-golden/2"
    assert meta["onnx_file"] == raw.name and meta["precision"] == "fp32"
    assert meta["model"] == paddle_dir.name and len(meta["onnx_sha256"]) == 64
    assert meta["preprocessing"]["kind"] == "images" and meta["preprocessing"]["crop"] == 224
    assert meta["preprocessing"]["source"] == "ImageNet default"
    # the model's own inference.yml: its preprocessing is what the golden file names
    yml = tmp_path / "with-yml"
    shutil.copytree(paddle_dir, yml)
    (yml / "inference.yml").write_text(YML_HALF)
    g2 = tmp_path / "g2.npz"
    verify(
        VerifyOptions(
            onnx_file=raw, paddle_model=yml, runtimes=["ort-cpu"], batches=[1], save_golden=g2
        )
    )
    pp = Golden.load(g2).meta["preprocessing"]
    assert pp["source"] == "inference.yml" and pp["mean"] == [0.5, 0.5, 0.5], pp
    m = onnx.load(str(raw))
    break_conv_weight(m)
    broken = _save(m, tmp_path / "broken.onnx")
    capsys.readouterr()  # the progress lines of the verify above
    code = main(["verify", "--onnx", broken, "--golden", str(g), "--runtimes", "ort-cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "was saved for another ONNX file" in err[0] and raw.name in err[0]
    # a format-1 file (no identity) is still read, with a note that it was not checked
    old = Golden.load(g)
    old.meta = {k: v for k, v in old.meta.items() if k not in ("onnx_sha256", "onnx_file")}
    old.meta["format"] = "p2o-golden/1"
    arrays = {"meta": np.array(json.dumps(old.meta))}
    for b, x in old.inputs.items():
        arrays[f"input@{b}"] = x
        arrays.update({f"output@{b}@{k}": y for k, y in old.outputs[b].items()})
    np.savez(tmp_path / "v1.npz", **arrays)
    res = verify(VerifyOptions(onnx_file=broken, golden=tmp_path / "v1.npz", runtimes=["ort-cpu"]))
    assert res.exit_code == 1 and any("not checked" in n for n in res.notes)


def test_unavailable_runtime_is_skipped_and_strict_fails(raw, paddle_dir):
    res = verify(
        VerifyOptions(
            onnx_file=raw, paddle_model=paddle_dir, runtimes=["ort-cpu", "ort-cuda"], batches=[1]
        )
    )
    skipped = [r for r in res.report.results if r.status == "skipped"]
    assert skipped and "CUDAExecutionProvider" in skipped[0].reason
    assert res.exit_code == 0
    strict = verify(
        VerifyOptions(
            onnx_file=raw,
            paddle_model=paddle_dir,
            runtimes=["ort-cpu", "ort-cuda"],
            batches=[1],
            strict=True,
        )
    )
    assert strict.exit_code == 1


def test_bad_input_is_exit_2_with_one_line(tmp_path, capsys, paddle_dir):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert main(["verify", "--onnx", str(junk), "--paddle-model", str(paddle_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a valid ONNX model" in err[0]
    assert main(["verify", "--onnx", str(tmp_path / "missing.onnx"), "--model", NAME]) == 2
    assert main(["verify", "--onnx", str(junk)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["verify", "--model", NAME, "--runtimes", "tensorflow"])
    assert exc.value.code == 2


def test_reports(raw, paddle_dir, tmp_path):
    import xml.etree.ElementTree as ET

    junit = tmp_path / "j.xml"
    md = tmp_path / "r.md"
    html = tmp_path / "r.html"
    m = onnx.load(str(raw))
    break_conv_weight(m)
    broken = _save(m, tmp_path / "broken.onnx")
    code = main(
        [
            "verify",
            "--onnx",
            broken,
            "--paddle-model",
            str(paddle_dir),
            "--runtimes",
            "ort-cpu,ort-cuda",
            "--batch",
            "1",
            "--junit",
            str(junit),
            "--report",
            str(md),
        ]
    )
    assert code == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (
        suite.get("failures") == "1" and suite.get("skipped") == "1" and suite.get("tests") == "2"
    )
    assert "FAILED" in md.read_text()
    main(
        [
            "verify",
            "--onnx",
            str(raw),
            "--paddle-model",
            str(paddle_dir),
            "--runtimes",
            "ort-cpu",
            "--batch",
            "1",
            "--report",
            str(html),
        ]
    )
    assert "PASSED" in html.read_text() and "<table>" in html.read_text()


@pytest.fixture(scope="module")
def simplified(tmp_path_factory):
    d = tmp_path_factory.mktemp("simplified")
    return convert(ConvertOptions(NAME, out_dir=d / NAME)).onnx_path


@pytest.mark.slow
def test_localizer_speaks_on_the_scale_of_the_tolerance(simplified):
    """--tolerance 0 on a correct conversion fails (float noise), but the localizer's "off by"
    is the rule's own measure: it names noise, not a fused layer's unrelated tensor (0.674)."""
    from p2o.parity.localize import localize

    net = create_model(NAME)
    x = sample_batch(1)
    model = onnx.load(str(simplified))
    d = localize(net, model, x, 0.0)
    assert d.found and 0.0 < d.rel_error <= 1e-2, d.describe()  # e051b5f: 0.674
    assert d.tolerance == 0.0
    assert d.final_min_tolerance is not None and 0.0 < d.final_min_tolerance < 1e-4
    assert "> tolerance 0" in d.describe()
    # at the default tolerance the final outputs agree: nothing is named
    quiet = localize(net, model, x, 1e-4)
    assert not quiet.found and quiet.paddle_layer == ""
