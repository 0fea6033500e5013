"""``--precision-debug``: the per-layer error of an artifact, in the JSON and on the verify page."""

from __future__ import annotations

import json

import onnx
import pytest

from p2o import report
from p2o.converter import precision
from p2o.core.errors import UsageError
from p2o.core.results import ParityReport, VerifyResult
from p2o.parity.precision_debug import layer_report
from p2o.report.parity import verify_report
from tests.converter.test_layer_error import PLAIN, outlier_classifier


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("debug")
    onnx.save(outlier_classifier(), str(d / "fp32.onnx"))
    onnx.save(precision.apply(outlier_classifier(), PLAIN)[0], str(d / "int8.onnx"))
    return d / "fp32.onnx", d / "int8.onnx"


def test_the_page_and_the_json_rank_the_node_adding_the_most_error(files) -> None:
    fp32, int8 = files
    layers = layer_report(int8, fp32, samples=8)
    assert layers.precision == "int8" and layers.layers[0].node == "conv_b"
    result = VerifyResult(ParityReport("outlier", 1e-4, "paddle"), str(int8), "crops", [1])
    result.layer_errors = layers
    text = report.text.render(verify_report(result))
    assert "per-layer error (int8)" in text and "conv_b" in text
    assert text.index("conv_b") < text.index("conv_a")  # largest first
    md = report.markdown.render(verify_report(result))
    assert "| 1 | conv_b |" in md.replace("  ", " ")
    again = VerifyResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.layer_errors == layers
    # without the option the page has no such table
    result.layer_errors = None
    assert "per-layer error" not in report.text.render(verify_report(result))


def test_it_refuses_an_fp32_artifact_and_a_wrong_reference(files, tmp_path) -> None:
    fp32, int8 = files
    with pytest.raises(UsageError, match="fp32 model"):
        layer_report(fp32, fp32, samples=4)
    with pytest.raises(UsageError, match="not an fp32 model"):
        layer_report(int8, int8, samples=4)
    other = outlier_classifier()
    for n in other.graph.node:
        n.name = "x_" + n.name
    onnx.save(other, str(tmp_path / "other.onnx"))
    with pytest.raises(UsageError, match="matches"):
        layer_report(int8, tmp_path / "other.onnx", samples=4)
