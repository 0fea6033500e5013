"""Is the ONNX artifact at least as fast as Paddle + oneDNN? One row per zoo model, bs=1.

For each model (all, or those matching the patterns given): Paddle Inference with oneDNN
on the exported network, ONNX Runtime CPU and OpenVINO f32 on p2o's ONNX file, the same
thread count for all, measured interleaved (round-robin after each one's warm-up, see
``p2o.bench``). One row per model: the three p50 latencies and the ratios
ort/paddle, openvino/paddle and best-onnx/paddle (p50 over p50, from the same run; < 1
means the ONNX engine is faster); then a summary line. Target: best-onnx/paddle <= 1 for
every model, and ort/paddle <= 1 too.

    python benchmarks/bench_zoo.py [PATTERN_OR_NAME ...] [--threads 2] [--iters 30]
        [--warmup 5] [--work-dir DIR] [--runtimes paddle,ort-cpu,openvino]
        [--align-groups BLOCK] [--ort-option KEY=VALUE ...] [--json FILE]

``--align-groups BLOCK`` (default 16; 0: off) adds ``ort-aligned``: ONNX Runtime CPU on a
copy of the artifact whose grouped convolutions are widened to BLOCK channels per group
(``p2o convert --align-groups``, see ``p2o.converter.align_groups``), for the models where
that pass widens something (skipped elsewhere). "ONNX Runtime" in the summary is the better
of ``ort-cpu`` and ``ort-aligned``.

``--ort-option`` adds a second ONNX Runtime CPU runner, ``ort-tuned``, with those session
config entries (e.g. ``session.intra_op.allow_spinning=0``) or ``graph_optimization_level=
extended|basic|all|disabled`` / ``enable_mem_pattern=0``, measured in the same rounds, so
a session option can be judged against the default on the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from p2o.bench import BenchOptions, BenchResult, benchmark, machine_info, no_spin_env
from p2o.core.errors import NotApplicable, P2OError
from p2o.runtimes.base import Runner
from p2o.runtimes.onnxruntime import OrtCpuRunner
from p2o.zoo import list_models

RUNTIMES = ("paddle", "ort-cpu", "openvino")
ONNX_ENGINES = ("ort-cpu", "ort-aligned", "openvino", "ort-tuned")
ORT_ENGINES = ("ort-cpu", "ort-aligned")
LEVELS = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class TunedOrtCpuRunner(OrtCpuRunner):
    """ONNX Runtime CPU with extra session options on top of p2o's defaults."""

    name = "ort-tuned"

    def __init__(self, model_path: Any, *, options: dict[str, str], **kw: Any) -> None:
        super().__init__(model_path, **kw)
        self.options = dict(options)

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, "extra_options": self.options}

    def _session_options(self) -> Any:
        import onnxruntime as ort

        so = super()._session_options()
        for key, value in self.options.items():
            if key == "graph_optimization_level":
                so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[value])
            elif key == "enable_mem_pattern":
                so.enable_mem_pattern = value not in ("0", "false", "False")
            else:
                so.add_session_config_entry(key, value)
        return so


def aligned_runner(block: int, threads: int) -> Callable[[Path], Runner]:
    """A factory of ONNX Runtime CPU runners on a group-aligned copy of the artifact."""

    def make(path: Path) -> Runner:
        import onnx

        from p2o.converter.align_groups import align_groups
        from p2o.converter.simplify import equivalence
        from p2o.core.files import write_atomic
        from p2o.zoo.inputs import sample_batch

        target = path.with_name(f"{path.stem}.align{block}.onnx")
        model = onnx.load(str(path))
        original = onnx.ModelProto()
        original.CopyFrom(model)
        report = align_groups(model, block)
        if not report.widened:
            raise NotApplicable(f"no grouped convolution to widen to {block} channels")
        x = sample_batch(4)
        if not equivalence(original, model, {original.graph.input[0].name: x}):
            raise P2OError(f"align-groups changed the outputs of {path}")
        write_atomic(target, model.SerializeToString(deterministic=True))
        return AlignedOrtCpuRunner(target, threads=threads)

    return make


class AlignedOrtCpuRunner(OrtCpuRunner):
    name = "ort-aligned"


def parse_options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--ort-option wants KEY=VALUE, got {item!r}")
        if key == "graph_optimization_level" and value not in LEVELS:
            raise SystemExit(f"graph_optimization_level: one of {', '.join(LEVELS)}")
        out[key] = value
    return out


def p50(res: BenchResult, runtime: str) -> float | None:
    t = res.get(runtime, 1)
    return None if t is None or t.latency is None else t.latency.p50_ms


def row_of(res: BenchResult) -> dict[str, Any]:
    ref = p50(res, "paddle")
    p50s = {r: p50(res, r) for r in res.runtimes}
    ratios = {r: (v / ref if v is not None and ref else None) for r, v in p50s.items()}
    onnx = {r: v for r, v in ratios.items() if r in ONNX_ENGINES and v is not None}
    best = min(onnx, key=lambda r: onnx[r]) if onnx else None
    ort = [v for r, v in onnx.items() if r in ORT_ENGINES]
    problems = [f"{t.runtime}: {t.reason}" for t in res.timings if t.status == "error"]
    return {
        "model": res.model,
        "p50_ms": p50s,
        "ratio_to_paddle": ratios,
        "paired_ratio_to_paddle": {
            t.runtime: t.vs_reference_paired for t in res.timings if t.batch == 1
        },
        "spread_p90_p50": {
            t.runtime: t.latency.spread for t in res.timings if t.latency is not None
        },
        "best_onnx": best,
        "best_onnx_ratio": None if best is None else onnx[best],
        "best_ort_ratio": min(ort) if ort else None,
        "problems": problems,
    }


def _fmt(v: float | None, spec: str) -> str:
    return format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))


def _short(runtime: str) -> str:
    return runtime.replace("-cpu", "").replace("openvino", "ov") + "/pd"


def _col(runtime: str) -> int:
    return max(13, len(runtime) + 5)


def _width(runtime: str) -> int:
    return max(11, len(_short(runtime)) + 2)


def print_header(runtimes: list[str]) -> None:
    cols = "".join(f"{r + ' ms':>{_col(r)}}" for r in runtimes)
    rats = "".join(f"{_short(r):>{_width(r)}}" for r in runtimes[1:])
    print(f"{'model':28}{cols}{rats} {'best-onnx/pd':>13}  best")


def print_row(row: dict[str, Any], runtimes: list[str]) -> None:
    cols = "".join(f"{_fmt(row['p50_ms'].get(r), f'{_col(r)}.2f')}" for r in runtimes)
    rats = "".join(
        f"{_fmt(row['ratio_to_paddle'].get(r), f'{_width(r)}.3f')}" for r in runtimes[1:]
    )
    best = row["best_onnx_ratio"]
    print(
        f"{row['model']:28}{cols}{rats} {_fmt(best, '13.3f')}  {row['best_onnx'] or '-'}",
        flush=True,
    )
    for p in row["problems"]:
        print(f"{'':28}{p}", flush=True)


def summary(rows: list[dict[str, Any]]) -> str:
    done = [r for r in rows if r["best_onnx_ratio"] is not None]
    if not done:
        return "summary: no model measured"
    n, failed = len(done), len(rows) - len(done)

    def gmean(vals: list[float]) -> str:
        xs = [v for v in vals if v > 0]
        return f"{math.exp(statistics.fmean(math.log(v) for v in xs)):.3f}" if xs else "-"

    best = [r["best_onnx_ratio"] for r in done]
    parts = [
        f"summary: {n} models at bs=1; best ONNX engine <= paddle on "
        f"{sum(v <= 1.0 for v in best)}/{n} (geometric mean ratio {gmean(best)})"
    ]
    ort = [r["best_ort_ratio"] for r in done if r.get("best_ort_ratio") is not None]
    if ort:
        parts.append(
            f"ONNX Runtime (best of {', '.join(ORT_ENGINES)}) on "
            f"{sum(v <= 1.0 for v in ort)}/{len(ort)} ({gmean(ort)})"
        )
    for engine in ONNX_ENGINES:
        vals = [r["ratio_to_paddle"].get(engine) for r in done]
        got = [v for v in vals if v is not None]
        if got:
            parts.append(
                f"{engine} alone on {sum(v <= 1.0 for v in got)}/{len(got)} ({gmean(got)})"
            )
    if failed:
        parts.append(f"{failed} not measured")
    return "; ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["*"], help="names or fnmatch patterns")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", help="where conversions go and are reused (default p2o-out)")
    ap.add_argument(
        "--runtimes",
        default=",".join(RUNTIMES),
        help=f"comma-separated, paddle first (default {','.join(RUNTIMES)})",
    )
    ap.add_argument(
        "--ort-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="add an ort-tuned runner with this session option (repeatable)",
    )
    ap.add_argument(
        "--align-groups",
        type=int,
        default=16,
        metavar="BLOCK",
        help="add ort-aligned: ORT CPU on the artifact aligned to BLOCK channels (0: off)",
    )
    ap.add_argument("--json", metavar="FILE", help="save every result as JSON")
    args = ap.parse_args()
    no_spin_env()  # KMP_BLOCKTIME=0 unless set: Paddle's OpenMP must not spin on ORT's core
    names = list(dict.fromkeys(n for pat in args.models for n in list_models(pat)))
    if not names:
        print(f"no zoo model matches {args.models}", file=sys.stderr)
        return 2
    options = parse_options(args.ort_option)
    base = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if not base or base[0] != "paddle":
        print("--runtimes: paddle (the reference) must come first", file=sys.stderr)
        return 2
    extra: dict[str, Callable[[Path], Runner]] = {}
    if options:

        def tuned(path: Path) -> Runner:
            return TunedOrtCpuRunner(path, options=options, threads=args.threads)

        extra["ort-tuned"] = tuned
    if args.align_groups:
        extra["ort-aligned"] = aligned_runner(args.align_groups, args.threads)
    runtimes = [*base, *extra]
    machine = machine_info()
    print(
        f"# threads {args.threads} per engine; {machine['cpu']} ({machine['logical_cpus']} "
        f"logical CPUs), load {machine['loadavg_1_5_15']}; bs=1; warm-up {args.warmup}, "
        f"{args.iters} interleaved rounds; env {machine['env']}; "
        "ratios are p50 / paddle p50 (pd; <1: faster)"
        + (f"; ort-tuned: {options}" if options else "")
    )
    print_header(runtimes)
    rows, results = [], []
    for name in names:
        try:
            res = benchmark(
                BenchOptions(
                    name,
                    runtimes=base,
                    batches=[1],
                    threads=args.threads,
                    warmup=args.warmup,
                    iters=args.iters,
                    seed=args.seed,
                    work_dir=args.work_dir,
                ),
                extra_runners=extra,
            )
        except (P2OError, RuntimeError, OSError) as exc:
            print(
                f"{name:28}not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                flush=True,
            )
            rows.append(
                {"model": name, "best_onnx_ratio": None, "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        row = row_of(res)
        rows.append(row)
        results.append(res.to_dict())
        print_row(row, runtimes)
    line = summary(rows)
    print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine,
                    "threads": args.threads,
                    "iters": args.iters,
                    "warmup": args.warmup,
                    "ort_options": options,
                    "rows": rows,
                    "summary": line,
                    "results": results,
                },
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
