"""What does each precision buy and cost? Speed-up and accuracy cost, side by side.

For each model (default: one per family), p2o makes the fp32, fp16 and INT8 artifacts
(``p2o convert --precision``), runs the Paddle fp32 reference and every precision × CPU
runtime on the evaluation crops (``p2o.zoo.crops``, never the INT8 calibration crops), and
times them at bs=1 in one interleaved run (``measure_runners``: warm-up, then round-robin):

- ``ort-cpu``: fp32, INT8 (QDQ), fp16 (fp32 I/O) artifacts;
- ``openvino``: fp32 (f32 hint), INT8 (the QDQ artifact, f32 hint), bf16 (hint, fp32 artifact).

Speed-up = the same runtime's fp32 p50 / this p50 (same run). Accuracy against Paddle fp32:
mean logit cosine, top-1 agreement, top-5 containment, max |a-r| over the logit range, and
whether ``p2o verify``'s acceptance rule for that precision passes. ``--extra`` adds INT8
variants that must fail or lose: int8 activations, per-tensor weights, one weight scale ×4.
``--levers`` adds the quantizer's settings a user would try (issue 22), each plain (no node kept
float) so that its own effect shows: entropy and percentile calibration, and int8 (symmetric)
activations and per-tensor weights on both engines, and OpenVINO's bf16 hint on the INT8
artifact (the float remainder in bfloat16). A lever is a default only where this table
shows it helps (docs/precision.md).

    python benchmarks/precision.py [MODEL ...] [--crops 64] [--iters 20] [--threads 2]
        [--work-dir DIR] [--extra] [--levers] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o.bench import machine_info, measure_runners, no_spin_env
from p2o.converter import ConvertOptions, convert
from p2o.converter.manifest import Manifest
from p2o.converter.precision import PrecisionOptions
from p2o.converter.precision.int8 import scale_weight_scale
from p2o.parity import acceptance
from p2o.runtimes import registry as rt

MODELS = ("RedNet26", "ReXNet_1_0", "RegNetX_4GF", "Res2Net50_vd_26w_4s", "ResNeSt50")
# label → (runtime, artifact, runtime precision)
VARIANTS = {
    "ort-cpu fp32": ("ort-cpu", "fp32", "fp32"),
    "ort-cpu int8": ("ort-cpu", "int8", "fp32"),
    "ort-cpu fp16": ("ort-cpu", "fp16", "fp32"),
    "openvino fp32": ("openvino", "fp32", "fp32"),
    "openvino int8": ("openvino", "int8", "fp32"),
    "openvino bf16": ("openvino", "fp32", "bf16"),
}
EXTRA = {
    "ort-cpu int8 (int8 activations)": ("ort-cpu", "int8-act-int8", "fp32"),
    "ort-cpu int8 (per-tensor weights)": ("ort-cpu", "int8-per-tensor", "fp32"),
    "ort-cpu int8 (one weight scale x4)": ("ort-cpu", "int8-broken", "fp32"),
}
LEVERS = {
    "ort-cpu int8 (entropy calibration)": ("ort-cpu", "int8-entropy", "fp32"),
    "ort-cpu int8 (percentile calibration)": ("ort-cpu", "int8-percentile", "fp32"),
    "ort-cpu int8 (int8 activations)": ("ort-cpu", "int8-act-int8", "fp32"),
    "openvino int8 (int8 activations)": ("openvino", "int8-act-int8", "fp32"),
    "ort-cpu int8 (per-tensor weights)": ("ort-cpu", "int8-per-tensor", "fp32"),
    "openvino int8 (per-tensor weights)": ("openvino", "int8-per-tensor", "fp32"),
    # the INT8 artifact with OpenVINO's bf16 hint: what stays float (RedNet's involution body,
    # most of its time) would run in bfloat16 on AMX
    "openvino int8 (bf16 hint)": ("openvino", "int8", "bf16"),
}
# the quantizer's settings as such: the accuracy-aware pass (issue 22) would repair a failing
# variant (or exit 1 past its budget) instead of showing what the setting costs
PLAIN = {"accuracy_aware": False}
ARTIFACTS = {
    "fp32": PrecisionOptions("fp32"),
    "fp16": PrecisionOptions("fp16"),
    "int8": PrecisionOptions("int8", **PLAIN),
    "int8-act-int8": PrecisionOptions("int8", activation_type="int8", **PLAIN),
    "int8-per-tensor": PrecisionOptions("int8", per_channel=False, **PLAIN),
    "int8-entropy": PrecisionOptions("int8", calibration_method="entropy", **PLAIN),
    "int8-percentile": PrecisionOptions("int8", calibration_method="percentile", **PLAIN),
}


def artifact(model: str, kind: str, work: Path) -> Path:
    """The model's artifact of ``kind``, converted once into ``work`` (reused after)."""
    out = work / model / kind
    if kind == "int8-broken":
        path = out / "model.onnx"
        if not path.is_file():
            m = onnx.load(str(artifact(model, "int8", work)))
            scale_weight_scale(m, 4.0)
            out.mkdir(parents=True, exist_ok=True)
            onnx.save_model(m, str(path))
        return path
    if (out / "manifest.json").is_file() and (out / "model.onnx").is_file():
        m = Manifest.load(out / "manifest.json")
        if m.options.get("precision", "fp32") == ARTIFACTS[kind].precision:
            return out / "model.onnx"
    return convert(
        ConvertOptions(model, out_dir=out, precision=ARTIFACTS[kind], overwrite=True)
    ).onnx_path


def outputs(runner: Any, x: np.ndarray, chunk: int = 8) -> np.ndarray:
    parts = [next(iter(runner.run(x[i : i + chunk]).values())) for i in range(0, len(x), chunk)]
    return np.concatenate(parts)


def measure_model(model: str, variants: dict[str, tuple[str, str, str]], args: Any) -> dict:
    from p2o.converter.export import export_static
    from p2o.zoo import create_model, crops, model_info

    info = model_info(model)
    x = crops.crop_batch("evaluation", args.crops, info.preprocess)
    paths = {kind: artifact(model, kind, args.work_dir) for _, kind, _ in variants.values()}
    with tempfile.TemporaryDirectory(prefix="p2o-bench-ref-") as tmp:
        export_static(create_model(model), tmp)
        ref = outputs(rt.create("paddle", Path(tmp), threads=args.threads), x)
    runners = {
        label: rt.create(name, paths[kind], threads=args.threads, precision=prec)
        for label, (name, kind, prec) in variants.items()
    }
    rows: dict[str, dict[str, Any]] = {}
    for label, runner in runners.items():
        name, kind, prec = variants[label]
        row: dict[str, Any] = {"runtime": name, "artifact": kind, "runtime_precision": prec}
        try:
            got = outputs(runner, x)
        except Exception as exc:  # an engine that cannot run this artifact: say so
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            rows[label] = row
            continue
        eff = acceptance.effective_precision(kind.split("-")[0], prec)
        m = acceptance.measure(ref, got)
        row.update(m.to_dict())
        rule = acceptance.rule_for(eff)
        row["precision"] = eff
        row["rule_passed"] = (
            None if rule is None else not acceptance.judge(m, rule.with_overrides(min_samples=1))
        )
        rows[label] = row
    live = {k: r for k, r in runners.items() if "error" not in rows[k]}
    timings = measure_runners(
        live,
        {1: {live[next(iter(live))].input_names[0]: x[:1]}},
        warmup=args.warmup,
        iters=args.iters,
    )
    p50 = {t.runtime: t.latency.p50_ms for t in timings if t.latency is not None}
    for label, row in rows.items():
        base = f"{row['runtime']} fp32"
        row["p50_ms"] = p50.get(label)
        if label in p50 and base in p50:
            row["speedup"] = p50[base] / p50[label]
    return {"model": model, "crops": args.crops, "rows": rows}


def cell(row: dict[str, Any]) -> str:
    if "error" in row:
        return "error: " + row["error"][:60]
    speed = f"{row['speedup']:.2f}×" if row.get("speedup") else "-"
    verdict = {None: "", True: " ✓", False: " ✗"}[row.get("rule_passed")]
    return f"{speed} · cos {row['cosine']:.4f} · top-1 {row['top1']:.0%}{verdict}"


def markdown(results: list[dict]) -> str:
    labels = list(dict.fromkeys(k for r in results for k in r["rows"]))
    lines = [
        "| | " + " | ".join(r["model"] for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for label in labels:
        cells = [cell(r["rows"][label]) if label in r["rows"] else "-" for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", default=list(MODELS))
    p.add_argument("--crops", type=int, default=64)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work-dir", type=Path, default=Path("p2o-out/precision"))
    p.add_argument("--extra", action="store_true", help="add the INT8 variants that must lose")
    p.add_argument("--levers", action="store_true", help="add the quantizer's settings (plain)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    no_spin_env()
    variants = {**VARIANTS, **(EXTRA if args.extra else {}), **(LEVERS if args.levers else {})}
    mach = machine_info()
    flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    isa = [
        f
        for f in ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
        if f" {f}" in flags
    ]
    print(f"# {mach['cpu']} ({mach['logical_cpus']} logical CPUs; {', '.join(isa) or 'no VNNI'})")
    print(
        f"# bs=1, {args.threads} threads, {args.crops} evaluation crops, p50 of {args.iters} "
        "interleaved rounds; speed-up vs the same runtime's fp32; accuracy vs Paddle fp32"
    )
    results = []
    for model in args.models:
        res = measure_model(model, variants, args)
        results.append(res)
        for label, row in res["rows"].items():
            print(f"{model:22s} {label:36s} {cell(row)}", flush=True)
    print()
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": mach, "isa": isa, "results": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
