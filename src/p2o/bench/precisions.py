"""Several precisions of one model in one run: artifacts, engine variants and speed-ups.

``p2o bench --precisions fp32,int8,bf16`` measures, beside each runtime's fp32 row, the
same runtime on the INT8 / fp16 artifact (made by ``p2o convert --precision``, or given)
and with a runtime precision (bf16: OpenVINO's hint on the fp32 artifact), all in the same
interleaved rounds; ``speedups`` then says how much faster each is than its runtime's fp32.
A runtime that cannot run a precision (ONNX Runtime CPU has no bf16) is skipped with why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from p2o.converter import ConvertOptions, convert
from p2o.converter import precision as precisions
from p2o.converter.manifest import Manifest
from p2o.converter.pipeline import DEFAULT_OPTIONS
from p2o.core.errors import NotApplicable, UsageError
from p2o.core.hashing import sha256_file
from p2o.core.versions import tool_versions
from p2o.parity.acceptance import Rules
from p2o.runtimes import registry as rt
from p2o.runtimes.base import Runner

# what bench measures beside fp32: the artifacts, and the engine hints judged by a rule of their own
ALL = tuple(n for n, p in precisions.REGISTRY.items() if p.artifact or p.rule is not None)
RUNTIME_ONLY = tuple(n for n in ALL if n in precisions.RUNTIME_ONLY)
SEPARATOR = " "  # label = "<runtime> <precision>"


def parse(value: str) -> list[str]:
    """``fp32,int8,bf16`` → the list, fp32 first (always measured: the speed-ups' base)."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in ALL]
    if bad:
        raise UsageError(f"unknown precision(s) {bad} (choose from {', '.join(ALL)})")
    return ["fp32", *[p for p in dict.fromkeys(items) if p != "fp32"]]


def artifact_dir(work_dir: str | Path | None, model: str, precision: str) -> Path:
    return Path(work_dir or "p2o-out") / (model if precision == "fp32" else f"{model}-{precision}")


def ensure_artifact(
    model: str, precision: str, weights: Any, seed: int, work_dir: str | Path | None
) -> Path:
    """The zoo model's artifact of ``precision`` (default options), reused when up to date."""

    out = artifact_dir(work_dir, model, precision)
    wanted = {**DEFAULT_OPTIONS, "precision": precision}
    try:
        m = Manifest.load(out / "manifest.json")
        fresh = (
            m.tools == tool_versions()
            and {**DEFAULT_OPTIONS, **m.options} == wanted
            and m.source.get("weights")
            == (f"synthetic(seed={seed})" if weights is None else str(weights))
            and sha256_file(out / "model.onnx") == m.onnx_sha256
        )
        if fresh:
            return out / "model.onnx"
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return convert(
        ConvertOptions(
            model, weights=weights, seed=seed, out_dir=out, precision=precision, overwrite=True
        )
    ).onnx_path


def variant_runners(
    runtimes: Sequence[str],
    precisions: Sequence[str],
    artifacts: Mapping[str, Path],
    threads: int,
) -> dict[str, Callable[[Path], Runner]]:
    """``"<runtime> <precision>"`` → a factory of the runner, for every ONNX runtime and
    reduced precision; a pair that cannot run raises ``NotApplicable`` (reported skipped)."""

    out: dict[str, Callable[[Path], Runner]] = {}
    for name in runtimes:
        if rt.kind(name) != "onnx":
            continue
        for p in precisions:
            if p == "fp32":
                continue
            out[f"{name}{SEPARATOR}{p}"] = _factory(name, p, artifacts, threads, Rules)
    return out


def _factory(
    name: str, p: str, artifacts: Mapping[str, Path], threads: int, rules: Any
) -> Callable[[Path], Runner]:
    def make(fp32_path: Path) -> Runner:
        if p in RUNTIME_ONLY:
            if p not in rt.precisions(name):
                raise NotApplicable(f"{name} has no {p} (it runs {', '.join(rt.precisions(name))})")
            return rt.create(name, fp32_path, threads=threads, precision=p)
        path = artifacts.get(p)
        if path is None:
            raise NotApplicable(f"no {p} artifact (give --model, or --artifact {p}=FILE)")
        engine = rules(p, "fp32").engine_precision(name)
        return rt.create(name, path, threads=threads, precision=engine)

    return make


def speedups(result: Any) -> dict[int, dict[str, float]]:
    """batch → ``{"<runtime> <precision>": fp32 p50 / this p50}``, same interleaved run."""
    p50 = {(t.runtime, t.batch): t.latency.p50_ms for t in result.timings if t.latency is not None}
    out: dict[int, dict[str, float]] = {}
    for (label, batch), ms in p50.items():
        base, _, precision = label.partition(SEPARATOR)
        if precision in ALL and (base, batch) in p50 and ms > 0:
            out.setdefault(batch, {})[label] = p50[(base, batch)] / ms
    return out


def speedup_lines(result: Any) -> list[str]:
    return [
        f"speed-up vs the same runtime's fp32, same interleaved run, bs={b}: "
        + ", ".join(f"{label} {x:.2f}x" for label, x in ratios.items())
        for b, ratios in sorted(speedups(result).items())
    ]
