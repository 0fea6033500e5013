"""Golden outputs: inputs + reference outputs + metadata in one ``.npz``.

Saved where Paddle runs, they let a machine without Paddle (a pipeline's GPU box) verify
an ONNX file against the same reference. Layout: ``input@<batch>`` arrays, ``output@<batch>@<name>``
arrays, and ``meta`` (a JSON string: model, weights sha256, reference runtime, versions).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from p2o.errors import UsageError

FORMAT = "p2o-golden/1"


@dataclass
class Golden:
    inputs: dict[int, np.ndarray]  # batch size → [n, C, H, W]
    outputs: dict[int, dict[str, np.ndarray]]  # batch size → output name → array
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def batches(self) -> list[int]:
        return sorted(self.inputs)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for b, x in self.inputs.items():
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
                    if parts[0] == "input":
                        inputs[int(parts[1])] = data[key]
                    elif parts[0] == "output":
                        outputs.setdefault(int(parts[1]), {})["@".join(parts[2:])] = data[key]
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"{p} is not a p2o golden file: {exc}") from exc
        if meta.get("format") != FORMAT or set(inputs) != set(outputs) or not inputs:
            raise UsageError(f"{p} is not a p2o golden file (format {meta.get('format')!r})")
        return cls(inputs, outputs, meta)
