"""What a release will do: the options, which models (pattern, list or file; shards), which
weights, and the key that tells ``--resume`` whether a finished model is still up to date."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from p2o.converter.precision import PrecisionOptions
from p2o.core.errors import UsageError
from p2o.core.hashing import sha256_file
from p2o.core.tolerance import check_tolerance
from p2o.core.versions import tool_versions
from p2o.parity.verify import DEFAULT_RUNTIMES
from p2o.runtimes import registry as rt
from p2o.zoo import list_models, model_info


def out_dir(out: str | Path) -> Path:
    """``--out`` as a directory, created if need be; one usage error when it cannot be one (an
    existing file, a file on the way, no permission)."""
    dist = Path(out)
    if dist.exists() and not dist.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    try:
        dist.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
    return dist


@dataclass
class ReleaseOptions:
    tolerance: float = 1e-4
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    batches: tuple[int, ...] = (1, 4)
    bench: bool = False
    strict: bool = False
    seed: int = 0
    opset: int = 17
    simplifier: str = "onnxsim"
    align_groups: int = 0  # p2o convert --align-groups (0: off)
    precisions: tuple[str, ...] = ("fp32",)  # --precision fp32,int8: one artifact (or hint) each
    max_float: float = PrecisionOptions.max_float  # int8's accuracy-aware budget (--max-float)

    def __post_init__(self) -> None:
        if self.align_groups == 1 or self.align_groups < 0:
            raise UsageError(
                f"--align-groups wants 0 (off) or a block of >= 2 channels, got {self.align_groups}"
            )
        if not 0.0 <= self.max_float <= 1.0:
            raise UsageError(f"--max-float wants a fraction within 0-1, got {self.max_float:g}")

    def key(self) -> dict[str, Any]:
        d = asdict(self)
        d["runtimes"] = list(self.runtimes)
        d["batches"] = list(self.batches)
        d["precisions"] = list(self.precisions)
        if d["precisions"] == ["fp32"]:  # the key of a release made before the option
            del d["precisions"]
        if self.max_float == PrecisionOptions.max_float:  # likewise
            del d["max_float"]
        return d

    @classmethod
    def from_key(cls, d: dict[str, Any]) -> ReleaseOptions:
        return cls(
            **{
                **d,
                "runtimes": tuple(d["runtimes"]),
                "batches": tuple(d["batches"]),
                "precisions": tuple(d.get("precisions", ("fp32",))),
            }
        )

    def check(self) -> None:
        """UsageError for a bad tolerance or an unknown runtime (before anything runs)."""

        check_tolerance(self.tolerance)
        for r in self.runtimes:
            rt.get(r)


def select_models(spec: str | Sequence[str]) -> list[str]:
    """Names from a pattern, a comma list, or a file with one name or pattern per line."""

    items: list[str] = []
    raw = [spec] if isinstance(spec, str) else list(spec)
    for part in raw:
        path = Path(part)
        if path.is_file():
            lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
            items += [ln for ln in lines if ln]
        else:
            items += [p.strip() for p in part.split(",") if p.strip()]
    names: list[str] = []
    for item in items:
        if any(c in item for c in "*?["):
            found = list_models(item)
            if not found:
                raise UsageError(f"no zoo model matches {item!r}")
            names += found
        else:
            model_info(item)  # UsageError for an unknown name
            names.append(item)
    ordered = list(dict.fromkeys(names))
    if not ordered:
        raise UsageError("no model selected")
    return ordered


def shard(names: list[str], spec: str | None) -> list[str]:
    """``K/N``: the K-th of N disjoint slices (round-robin over the list's order)."""
    if not spec:
        return names
    try:
        k, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise UsageError(f"--shard wants K/N (e.g. 2/4), got {spec!r}") from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard {spec}: need 1 <= K <= N")
    return [name for i, name in enumerate(names) if i % n == k - 1]


def weights_for(name: str, weights_dir: Path | None) -> str | None:
    """``<model>_pretrained.pdparams`` (or ``<model>.pdparams``) in the weights dir."""
    if weights_dir is None:
        return None
    for candidate in (f"{name}_pretrained.pdparams", f"{name}.pdparams"):
        if (weights_dir / candidate).is_file():
            return str(weights_dir / candidate)
    raise UsageError(
        f"no weights for {name} in {weights_dir} (expected {name}_pretrained.pdparams)"
    )


def plan(
    models: str | Sequence[str], weights_dir: str | Path | None, shard_spec: str | None
) -> list[tuple[str, str | None]]:
    """(model, weights file or None for synthetic weights), in release order."""
    names = shard(select_models(models), shard_spec)
    wdir = Path(weights_dir) if weights_dir else None
    if wdir is not None and not wdir.is_dir():
        raise UsageError(f"weights dir not found: {wdir}")
    return [(n, weights_for(n, wdir)) for n in names]


def inputs_key(name: str, weights: str | None, options: ReleaseOptions) -> tuple[str, str]:
    """(key, weights sha256): what a finished model's inputs were, for --resume."""

    wsha = sha256_file(weights) if weights else f"synthetic(seed={options.seed})"
    blob = json.dumps(
        {"model": name, "weights": wsha, "options": options.key(), "tools": tool_versions()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest(), wsha
