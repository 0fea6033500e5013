"""A release's precisions beyond fp32 (``p2o release --precision fp32,int8``).

For each: an INT8 / fp16 artifact converted into ``<model>/<precision>/`` (``model.onnx`` and
``manifest.json``) and verified against the Paddle fp32 reference under its acceptance rule,
or, for bf16, the fp32 artifact verified with the bf16 runtime hint. Each verify result goes
into the record (``precisions``); any that does not pass makes the model fail, and the others
are still made and verified: an INT8 convert that gives up (its accuracy-aware pass past its
budget) is recorded as a failed precision, with its per-layer table, and bf16 still runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from p2o.bench.precisions import RUNTIME_ONLY
from p2o.converter import ConvertOptions, convert
from p2o.converter.manifest import Manifest
from p2o.converter.precision import PrecisionOptions
from p2o.converter.precision.layer_error import BudgetExceeded
from p2o.core.results import (
    LayerError,
    LayerErrorReport,
    ModelRecord,
    ParityReport,
    RuntimeResult,
    Status,
    VerifyResult,
    verdict,
)
from p2o.parity.verify import VerifyOptions, verify
from p2o.release.plan import ReleaseOptions


def release_precisions(
    rec: ModelRecord, weights: str | None, options: ReleaseOptions, work: Path, fp32: Path
) -> dict[str, Path]:
    """Convert and verify every precision beyond fp32; returns the artifacts made."""

    artifacts: dict[str, Path] = {}
    for p in options.precisions:
        if p == "fp32":
            continue
        if p in RUNTIME_ONLY:
            onnx_file, runtime_precision = fp32, p
        else:
            try:
                res = convert(
                    ConvertOptions(
                        rec.model,
                        weights=weights,
                        seed=options.seed,
                        out_dir=work / p,
                        opset=options.opset,
                        simplifier=options.simplifier,
                        precision=PrecisionOptions(p, max_float=options.max_float),
                    )
                )
            except BudgetExceeded as exc:
                _record(rec, p, not_made(rec, p, exc, options))
                continue
            onnx_file, runtime_precision = res.onnx_path, "fp32"
            artifacts[p] = onnx_file
        result = verify(
            VerifyOptions(
                rec.model,
                onnx_file=onnx_file,
                weights=weights,
                seed=options.seed,
                runtimes=options.runtimes,
                batches=options.batches[:1],
                precision=runtime_precision,
                strict=options.strict,
            )
        )
        if p not in RUNTIME_ONLY:
            result.layer_errors = kept_float(onnx_file.parent / "manifest.json")
        relative = "model.onnx" if p in RUNTIME_ONLY else f"{p}/model.onnx"
        _record(rec, p, dataclasses.replace(result, onnx_file=relative))
    rec.status = verdict([rec.status, *(v.status for v in rec.precisions.values())])
    return artifacts


def _record(rec: ModelRecord, precision: str, result: VerifyResult) -> None:
    rec.precisions[precision] = result
    if result.status is not Status.PASSED and rec.status is Status.PASSED and not rec.reason:
        rec.stage, rec.reason = "precision", f"{precision}: {result.report.reason}"


def not_made(
    rec: ModelRecord, precision: str, exc: BudgetExceeded, options: ReleaseOptions
) -> VerifyResult:
    """A precision whose artifact convert refused to write: failed on every runtime, with the
    reason and the per-layer table (the nodes it tried keeping float marked)."""
    why = str(exc).splitlines()[0].removeprefix(f"{precision}: ")
    reason = f"no {precision} artifact: {why}"
    rows = [RuntimeResult(rt, Status.FAILED, reason) for rt in options.runtimes]
    reference = rec.verify.report.reference if rec.verify is not None else "paddle"
    return VerifyResult(
        ParityReport(rec.model, options.tolerance, reference, rows),
        onnx_file="",
        inputs="(not verified: convert wrote no artifact)",
        batches=list(options.batches[:1]),
        layer_errors=exc.report,
    )


def kept_float(manifest: Path) -> LayerErrorReport | None:
    """The nodes the accuracy-aware INT8 pass kept float, from the artifact's manifest."""
    if not manifest.is_file():
        return None
    details = Manifest.load(manifest).precision.get("details") or {}
    aware = details.get("accuracy_aware")
    if not aware:
        return None
    names = {f.name for f in dataclasses.fields(LayerError)}
    rows = [
        LayerError.from_dict({k: v for k, v in row.items() if k in names})
        for row in aware.get("nodes_kept_float", [])
    ]
    return LayerErrorReport(
        "int8",
        "the fp32 model",
        str(aware.get("judged_on", "")),
        int(aware.get("plain", {}).get("samples", 0)),
        rows,
        int(aware.get("quantizable_nodes", 0)),
    )
