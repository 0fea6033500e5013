"""A release's precisions beyond fp32 (``p2o release --precision fp32,int8``).

For each: an INT8 / fp16 artifact converted into ``<model>/<precision>/`` (``model.onnx`` and
``manifest.json``) and verified against the Paddle fp32 reference under its acceptance rule,
or, for bf16, the fp32 artifact verified with the bf16 runtime hint. Each verify result goes
into the record (``precisions``); any that does not pass makes the model fail.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from p2o.bench.precisions import RUNTIME_ONLY
from p2o.converter import ConvertOptions, convert
from p2o.converter.manifest import Manifest
from p2o.core.results import LayerError, LayerErrorReport, ModelRecord, Status, verdict
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
            res = convert(
                ConvertOptions(
                    rec.model,
                    weights=weights,
                    seed=options.seed,
                    out_dir=work / p,
                    opset=options.opset,
                    simplifier=options.simplifier,
                    precision=p,
                )
            )
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
        rec.precisions[p] = dataclasses.replace(result, onnx_file=relative)
        if result.status is not Status.PASSED and rec.status is Status.PASSED:
            rec.stage, rec.reason = "precision", f"{p}: {result.report.reason}"
    rec.status = verdict([rec.status, *(v.status for v in rec.precisions.values())])
    return artifacts


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
