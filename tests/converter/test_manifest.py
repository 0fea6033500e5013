"""``manifest.producer``: which converter made an ONNX file, for verify's record."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from p2o.converter.manifest import MANIFEST_FILE, Manifest, producer


def _model(path: Path, name: str, version: str, identity: dict[str, str] | None = None) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, producer_name=name, producer_version=version)
    for key, value in (identity or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_a_foreign_file_names_its_own_producer(tmp_path: Path) -> None:
    assert producer(_model(tmp_path / "a.onnx", "tf2onnx", "1.16.1")) == "tf2onnx 1.16.1"
    assert producer(_model(tmp_path / "b.onnx", "", "")) == "unknown producer"


def test_p2o_s_file_adds_the_converters_its_manifest_records(tmp_path: Path) -> None:
    other = _model(tmp_path / "other.onnx", "p2o", "0.1.2")  # PyPI's p2o writes "p2o" too
    assert producer(other) == "p2o 0.1.2 (not p2o-proof's: no p2o.* identity in the file)"
    path = _model(tmp_path / "model.onnx", "p2o", "0.1.0", {"p2o.model": "M"})
    assert producer(path) == "p2o-proof 0.1.0"  # no manifest beside it
    tools = {"paddle2onnx": "2.1.0", "onnxsim": "0.8.1", "onnxslim": "0.1.98"}
    m = Manifest("M", {}, {"simplifier": "onnxslim"}, tools, 17, 17, "", [], [], {}, [], {}, {},
                 "0" * 64, 1)  # fmt: skip
    (tmp_path / MANIFEST_FILE).write_text(m.to_json())
    assert producer(path) == "p2o-proof 0.1.0 (manifest: paddle2onnx 2.1.0, onnxslim 0.1.98)"
