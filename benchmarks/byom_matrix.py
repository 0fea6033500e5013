"""PaddleClas's own architectures through ``p2o convert`` and ``p2o verify``: one Markdown row each.

Builds every architecture of ``tests/support/paddleclas_archs.py`` from the PaddleClas wheel
(``$P2O_PADDLECLAS_WHEEL`` or ``--wheel``; fetch it with ``pip download --no-deps
paddleclas==2.6.0``) with p2o's synthetic weights (BatchNorm statistics from the bundled
photographs), exports each with ``paddle.jit.save`` into ``OUT/<ARCH>/`` (reused when its key is
unchanged), then runs the CLI on it: convert into ``OUT/<ARCH>.onnx/``, verify with ``--json``.

    python benchmarks/byom_matrix.py [--out /work/paddleclas-matrix] [--wheel W] [--only A,B]
                                     [--conditioning photos|noise] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.support

from tests.support import paddleclas_archs as pa


def _row(o: pa.Outcome) -> str:
    tol = o.min_tolerance or {}
    tols = ", ".join(f"{rt} {v:.1e}" for rt, v in sorted(tol.items())) or "–"
    verify = "–" if o.verify_exit is None else str(o.verify_exit)
    failure = o.first_failure().replace("|", "\\|")[:160] or "–"
    return (
        f"| {o.arch} | {o.convert_exit} ({o.convert_seconds:.0f} s) | {verify} | {tols} "
        f"| {failure} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/work/paddleclas-matrix"))
    parser.add_argument("--wheel", type=Path, default=None, help="the paddleclas .whl")
    parser.add_argument("--only", default="", help="comma-separated architecture names")
    parser.add_argument("--conditioning", choices=("photos", "noise"), default="photos")
    parser.add_argument("--json", type=Path, default=None, help="write the outcomes here")
    args = parser.parse_args(argv)

    wheel = args.wheel or pa.find_wheel()
    if wheel is None or not wheel.is_file():
        print(pa.missing_reason() or f"no such wheel: {wheel}", file=sys.stderr)
        return 2
    names = [n for n in args.only.split(",") if n] or [a.name for a in pa.ARCHS]
    unknown = [n for n in names if n not in pa.BY_NAME]
    if unknown:
        print(f"unknown architecture(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = out / ".paddleclas"
    rows = []
    outcomes = []
    start = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            model_dir = pa.export(
                name, out / name, wheel, cache_dir, conditioning=args.conditioning
            )
        except Exception as exc:  # an architecture Paddle can't build or export: a row, not a stop
            line = f"| {name} | export failed: {type(exc).__name__}: {str(exc)[:120]} | – | – | – |"
            rows.append(line)
            print(line, file=sys.stderr, flush=True)
            continue
        built = time.perf_counter() - t0
        outcome = pa.convert_and_verify(name, model_dir, out / f"{name}.onnx")
        outcomes.append(outcome)
        rows.append(_row(outcome))
        print(
            f"{rows[-1]}  (export {built:.0f} s, verify {outcome.verify_seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    print("| architecture | convert exit (time) | verify exit | min tolerance | failure |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n{len(names)} architectures in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.json:
        data = [
            {k: v for k, v in vars(o).items() if k != "report"}
            | {"divergence": (o.report or {}).get("divergence")}
            for o in outcomes
        ]
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
