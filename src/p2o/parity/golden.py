"""Golden outputs: inputs + reference outputs + metadata in one ``.npz``.

Saved where Paddle runs, they let a machine without Paddle (a pipeline's GPU box) verify
an ONNX file against the same reference. Layout: ``input@<batch>`` arrays (one ``input@all``
when every batch size ran the same samples), ``output@<batch>@<name>`` arrays, and ``meta``
(a JSON string: reference runtime, inputs, tool versions, and the identity).

The identity says what the outputs are the reference *of*: the model and its weights
(``model``, ``weights_sha256``), the ONNX file they were saved for (``onnx_sha256``,
``onnx_file``, its ``precision``) and how the inputs were made (``preprocessing``). A golden
file is only ever compared with the ONNX file it was saved for: ``check_onnx`` refuses any
other (a usage error), so a GPU box cannot pass a model against another model's outputs.
Files of format 1 (no identity) still load; their check says so instead of refusing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from p2o.converter.precision import detect
from p2o.core.errors import UsageError
from p2o.core.hashing import sha256_file
from p2o.zoo.registry import Preprocess

FORMAT = "p2o-golden/2"
READS = ("p2o-golden/1", FORMAT)  # format 1: the same arrays, no identity
IDENTITY = ("model", "weights_sha256", "onnx_sha256", "precision", "preprocessing")


def onnx_identity(path: str | Path) -> dict[str, str]:
    """The identity keys of the ONNX file a golden file is saved for."""

    p = Path(path)
    return {"onnx_sha256": sha256_file(p), "onnx_file": p.name, "precision": detect(p)}


def preprocessing_of(inputs: str, pp: Any = None) -> dict[str, Any]:
    """How ``p2o verify --inputs`` made its tensors (for the golden file's identity).

    ``pp``: the ``Preprocess`` the images went through (the ImageNet default when None).
    """
    from dataclasses import asdict

    if inputs.startswith("random"):
        return {"inputs": inputs, "kind": "seeded random tensors (seed 0)"}
    if inputs.endswith((".npz", ".npy")):
        return {"inputs": Path(inputs).name, "kind": "tensors given as they are"}
    steps = asdict(pp or Preprocess())
    steps["labels"] = len(steps.get("labels") or ())  # the class names: only how many
    return {"inputs": inputs, "kind": "images", **steps}


@dataclass
class Golden:
    inputs: dict[int, np.ndarray]  # batch size → [n, C, H, W]
    outputs: dict[int, dict[str, np.ndarray]]  # batch size → output name → array
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # the file it was loaded from

    @property
    def batches(self) -> list[int]:
        return sorted(self.inputs)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        arrays: dict[str, np.ndarray] = {}
        xs = list(self.inputs.values())
        shared = all(x.shape == xs[0].shape and np.array_equal(x, xs[0]) for x in xs)
        if shared:  # every batch size ran the same samples: stored once
            arrays["input@all"] = xs[0]
        for b, x in self.inputs.items():
            if not shared:
                arrays[f"input@{b}"] = x
            for name, y in self.outputs[b].items():
                arrays[f"output@{b}@{name}"] = y
        meta = {"format": FORMAT, **self.meta}
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.part.npz")
        try:
            np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, p)
        finally:
            if tmp.exists():
                tmp.unlink()
        return p

    @classmethod
    def load(cls, path: str | Path) -> Golden:
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"golden file not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                inputs: dict[int, np.ndarray] = {}
                outputs: dict[int, dict[str, np.ndarray]] = {}
                for key in data.files:
                    parts = key.split("@")
                    if parts[0] == "input" and parts[1] != "all":
                        inputs[int(parts[1])] = data[key]
                    elif parts[0] == "output":
                        outputs.setdefault(int(parts[1]), {})["@".join(parts[2:])] = data[key]
                if "input@all" in data.files:
                    shared = data["input@all"]
                    inputs = {b: shared for b in outputs}
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"{p} is not a p2o golden file: {exc}") from exc
        if meta.get("format") not in READS or set(inputs) != set(outputs) or not inputs:
            raise UsageError(f"{p} is not a p2o golden file (format {meta.get('format')!r})")
        return cls(inputs, outputs, meta, source=str(p))

    @property
    def identity(self) -> dict[str, Any]:
        """What these outputs are the reference of (see the module docstring)."""
        return {k: self.meta.get(k) for k in IDENTITY}

    def check_onnx(self, onnx_path: str | Path) -> str | None:
        """Refuse an ONNX file other than the one this was saved for (UsageError).

        Returns a note when there is nothing to check against (a format-1 file).
        """

        where = self.source or "the golden file"
        wanted = self.meta.get("onnx_sha256")
        if not wanted:
            return (
                f"{where} names no ONNX file (an older format): not checked that it is this one's"
            )
        got = sha256_file(onnx_path)
        if got != wanted:
            made_for = f"{self.meta.get('onnx_file', '?')} of {self.meta.get('model', '?')}"
            raise UsageError(
                f"{where} was saved for another ONNX file ({made_for}, sha256 {wanted[:12]}); "
                f"{Path(onnx_path).name} has sha256 {got[:12]}: save a golden file for it "
                "with `p2o verify --onnx FILE ... --save-golden`"
            )
        return None
