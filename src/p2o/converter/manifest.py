"""``manifest.json``: what was converted, how, with which tools, and the checksum of the result."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx

from p2o import DISTRIBUTION
from p2o.core.results import dumps_strict, loads_strict

FORMAT = "p2o-manifest/1"


@dataclass
class TensorSpec:
    name: str
    shape: list[int | str]  # a string for a dynamic dimension
    dtype: str


@dataclass
class Manifest:
    model: str  # zoo name, or the Paddle model directory's name
    source: dict[str, Any]  # kind, zoo name or path, weights, weights_sha256
    options: dict[str, Any]  # opset, batch, simplifier, involution mode, align_groups
    tools: dict[str, str]
    opset: int
    opset_requested: int
    opset_raised_because: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    node_counts: dict[str, int]  # after each stage
    custom_ops: list[dict[str, Any]]
    stage_seconds: dict[str, float]
    equivalence: dict[str, Any]  # written vs unsimplified (and mapping vs paddle2onnx), real inputs
    onnx_sha256: str
    onnx_bytes: int
    format: str = FORMAT
    notes: list[str] = field(default_factory=list)
    align_groups: dict[str, Any] = field(default_factory=dict)  # which convs were widened
    precision: dict[str, Any] = field(default_factory=dict)  # the precision pass (int8, fp16)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:

        return dumps_strict(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        data = dict(data)
        data["inputs"] = [TensorSpec(**t) for t in data["inputs"]]
        data["outputs"] = [TensorSpec(**t) for t in data["outputs"]]
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> Manifest:

        return cls.from_dict(loads_strict(Path(path).read_text()))


IDENTITY_PREFIX = "p2o."


def identity(model: str, source: dict[str, Any], options: dict[str, Any]) -> dict[str, str]:
    """What the ONNX file is a conversion of (written into its ``metadata_props``)."""
    return {
        "p2o.model": model,
        "p2o.source_kind": str(source.get("kind", "")),
        "p2o.weights": str(source.get("weights", "")),
        "p2o.weights_sha256": str(source.get("weights_sha256", "")),
        "p2o.options": json.dumps(options, sort_keys=True),
    }


def read_identity(model: Any) -> dict[str, str]:
    """The ``p2o.*`` entries of an ONNX model's ``metadata_props`` ({} for a foreign file)."""
    return {p.key: p.value for p in model.metadata_props if p.key.startswith(IDENTITY_PREFIX)}


MANIFEST_FILE = "manifest.json"


def producer(onnx_path: str | Path) -> str:
    """Which converter made an ONNX file, and its version: the file's ``producer_name`` and
    ``producer_version``; for p2o's own files (they carry p2o's identity in their metadata),
    the distribution and the converters its manifest records. PyPI's ``p2o`` (another
    converter) writes the producer name "p2o" too, without that identity."""
    path = Path(onnx_path)
    model = onnx.load(str(path), load_external_data=False)
    name = model.producer_name or "unknown producer"
    text = f"{name} {model.producer_version}".strip()
    if name != "p2o":
        return text
    if not read_identity(model):
        return f"{text} (not p2o-proof's: no p2o.* identity in the file)"
    text = f"{DISTRIBUTION} {model.producer_version}"
    manifest = path.with_name(MANIFEST_FILE)
    if manifest.is_file():
        try:
            m = Manifest.load(manifest)
        except (OSError, ValueError, KeyError, TypeError):
            return text
        asked = m.options.get("simplifier", "none")  # the one used: it may have fallen back
        simplifier = (m.equivalence.get("simplifier") or {}).get("used", asked)
        used = ["paddle2onnx", str(simplifier)]
        text += " (manifest: " + ", ".join(f"{k} {m.tools[k]}" for k in used if k in m.tools) + ")"
    return text
