"""Run converters over a list of models and judge every output with ``p2o verify``: one table.

Converters: ``p2o`` (paddle2onnx through ``p2o convert``, always) and any external command given
as a template, ``--converter NAME='CMD {model} {params} {out}'`` ({model}: the Paddle program,
inference.json or .pdmodel; {params}: the .pdiparams file; {out}: the ONNX file to write).

Models: zoo names or patterns (``--models 'RedNet*,ReXNet_1_0'``; each is exported with p2o's own
export, synthetic weights of seed 0, into a temporary folder), and Paddle model folders
(``--paddle-model DIR``, repeatable; a folder of such folders is expanded). Each external
converter is given the exported program; ``p2o`` converts a zoo model by name (its own path,
which marks the op mappings' layers; same weights) and a folder with ``--paddle-model``.

Every output is then checked, as a user would, with ``p2o verify --onnx OUT --paddle-model DIR
--batch 1,4 --runtimes ort-cpu,openvino --json``. The CLI runs as a subprocess throughout: it
is the stable interface. Everything is written under one temporary folder, removed at the end.

stdout: one Markdown table, a row per model; for each converter its convert time, ONNX node
count (top-level graph), verdict (verify's exit code: 0 passed, 1 failed, 2 could not run),
min tolerance (the largest of verify's per-runtime, per-batch minimum tolerances: the smallest
tolerance at which every check would pass) and the first diverging op (verify's
``divergence``, when it localized one; else "–"). A converter that fails has its exit code and
first stderr line in the cell. stderr: one line per step.

    python benchmarks/converters.py --models RegNetX_200MF,RedNet26 \\
        --paddle-model /work/paddleclas-matrix \\
        --converter rust-p2o='/tmp/p2o-rust/p2o {model} {params} {out}'

Exit: 0 the table was printed (a converter's failure is a result, not an error of this
script), 2 bad input (one line on stderr), 130 interrupted, 143 terminated (the temporary
folder is removed either way).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

P2O = [sys.executable, "-m", "p2o.cli"]
VERIFY_ARGS = ["--batch", "1,4", "--runtimes", "ort-cpu,openvino", "--json", "-q"]
VERDICTS = {0: "passed", 1: "FAILED", 2: "not run", 3: "p2o crashed"}
TIMEOUT_EXIT = 124

# Child of export_zoo: build a zoo model with synthetic weights and save it as Paddle does.
EXPORT_CHILD = """
import sys
from p2o.converter.export import export_static
from p2o.zoo import create_model, model_info
name, out = sys.argv[1], sys.argv[2]
export_static(create_model(name), out, model_info(name).input_shape)
"""


class UsageError(Exception):
    """Bad input: one line on stderr, exit 2."""


@dataclass(frozen=True)
class Converter:
    """A converter: ``p2o`` itself (no template) or an external command template."""

    name: str
    template: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Converter:
        name, sep, cmd = spec.partition("=")
        if not sep or not name.strip() or not cmd.strip():
            raise UsageError(
                f"--converter expects NAME='CMD {{model}} {{params}} {{out}}', got {spec!r}"
            )
        template = tuple(shlex.split(cmd))
        if not any("{out}" in arg for arg in template):
            raise UsageError(f"--converter {name}: the command never names {{out}}")
        return cls(name.strip(), template)


@dataclass(frozen=True)
class Model:
    """One row: a zoo name (exported on demand) or a Paddle model folder."""

    name: str
    zoo: bool
    folder: Path  # the Paddle model folder (for a zoo model: where it is exported to)

    def has_program(self) -> bool:
        return self._program() is not None

    def _program(self) -> Path | None:
        """The program beside a ``.pdiparams`` file of the same stem (.json, else .pdmodel)."""
        for params in sorted(self.folder.glob("*.pdiparams")):
            for suffix in (".json", ".pdmodel"):
                if params.with_suffix(suffix).is_file():
                    return params.with_suffix(suffix)
        return None

    def program(self) -> Path:
        found = self._program()
        if found is None:
            raise UsageError(f"{self.folder}: no Paddle program (inference.json or .pdmodel)")
        return found

    def params(self) -> Path:
        return self.program().with_suffix(".pdiparams")


@dataclass(frozen=True)
class Context:
    """How every child runs: its time limit, and TMPDIR inside the run's temporary folder (so
    that what a child keeps there, such as a failed paddle2onnx's log, goes with it)."""

    timeout: float
    tmp: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.tmp)}


@dataclass
class Cell:
    """What one converter did with one model, and what verify said of it."""

    convert_exit: int = 0
    convert_seconds: float = 0.0
    convert_error: str = ""
    nodes: int | None = None
    verify_exit: int | None = None  # None: not verified (the conversion failed)
    verify_reason: str = ""
    min_tolerance: float | None = None
    divergence: str = ""
    producer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Row:
    model: str
    cells: dict[str, Cell] = field(default_factory=dict)
    error: str = ""  # the model could not be prepared (export failed)


# --------------------------------------------------------------------------- subprocesses


def run(cmd: list[str], ctx: Context) -> tuple[int, str, str, float]:
    """Exit code, stdout, stderr and seconds of ``cmd`` (exit 124 when it ran out of time)."""
    timeout = ctx.timeout
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ctx.env())
    except subprocess.TimeoutExpired:
        return TIMEOUT_EXIT, "", f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    except OSError as exc:  # the external command does not exist or cannot run
        return 127, "", f"{cmd[0]}: {exc.strerror or exc}", time.perf_counter() - t0
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- models


def zoo_names(patterns: list[str], ctx: Context) -> list[str]:
    """Zoo names matching comma-separated names or patterns, as ``p2o list --json`` sees them."""
    names: list[str] = []
    for pattern in patterns:
        code, out, err, _ = run([*P2O, "list", pattern, "--json"], ctx)
        if code != 0:
            raise UsageError(first_line(err) or f"p2o list {pattern!r} failed (exit {code})")
        names += [m["name"] for m in json.loads(out) if m["name"] not in names]
    return names


def paddle_folders(path: Path) -> list[Path]:
    """``path`` when it holds a Paddle program, else its sub-folders that do (sorted)."""
    if not path.is_dir():
        raise UsageError(f"--paddle-model {path}: not a folder")
    if Model(path.name, False, path).has_program():
        return [path]
    found = [
        d
        for d in sorted(path.iterdir())
        if d.is_dir() and not d.name.startswith(".") and Model(d.name, False, d).has_program()
    ]
    if not found:
        raise UsageError(f"--paddle-model {path}: no Paddle model in it or in its sub-folders")
    return found


def export_zoo(model: Model, ctx: Context) -> str:
    """Export zoo model ``model.name`` into ``model.folder``; '' or the failure's line."""
    code, _, err, seconds = run(
        [sys.executable, "-c", EXPORT_CHILD, model.name, str(model.folder)], ctx
    )
    if code != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        return f"export failed (exit {code}): {lines[-1][:200] if lines else ''}"
    log(f"{model.name}: exported in {seconds:.1f} s")
    return ""


# --------------------------------------------------------------------------- convert + verify


def convert_command(conv: Converter, model: Model, out: Path) -> list[str]:
    if not conv.template:  # p2o itself: -q, so that stderr holds only an error
        source = ["--model", model.name] if model.zoo else ["--paddle-model", str(model.folder)]
        return [*P2O, "convert", *source, "-o", str(out.parent), "--overwrite", "-q"]
    values = {"model": model.program(), "params": model.params(), "out": out}
    return [arg.format(**values) for arg in conv.template]


def node_count(onnx_file: Path) -> int | None:
    import onnx

    try:
        return len(onnx.load(str(onnx_file), load_external_data=False).graph.node)
    except Exception:  # an unreadable file: verify says why
        return None


def describe_divergence(div: dict[str, Any] | None) -> str:
    if not div or not div.get("found"):
        return ""
    node = div.get("onnx_op") or "?"
    if div.get("onnx_node"):
        node += f" `{div['onnx_node']}`"
    return f"{div.get('paddle_type') or '?'} → {node}"


def worst_min_tolerance(report: dict[str, Any]) -> float | None:
    values = [
        r["min_tolerance"] for r in report.get("results", []) if r.get("min_tolerance") is not None
    ]
    return max(values) if values else None


def parse_report(out: str) -> dict[str, Any] | None:
    """verify's JSON: stdout, or the object that starts a line of it (should a library have
    printed something else there too)."""
    starts = [0] + [i + 1 for i, ch in enumerate(out) if ch == "\n" and out[i + 1 : i + 2] == "{"]
    for start in starts:
        try:
            report, _ = json.JSONDecoder().raw_decode(out, start)
        except ValueError:
            continue
        if isinstance(report, dict):
            return report
    return None


def verify(cell: Cell, model: Model, onnx_file: Path, ctx: Context) -> None:
    cmd = [*P2O, "verify", "--onnx", str(onnx_file), "--paddle-model", str(model.folder)]
    code, out, err, _ = run([*cmd, *VERIFY_ARGS], ctx)
    cell.verify_exit = code
    report = parse_report(out)
    if report is None:
        said = first_line(err) or first_line(out)
        cell.verify_reason = f"verify printed no JSON: {said}" if said else "verify printed nothing"
        return
    cell.verify_reason = str(report.get("reason") or "")
    cell.min_tolerance = worst_min_tolerance(report)
    cell.divergence = describe_divergence(report.get("divergence"))
    cell.producer = str((report.get("provenance") or {}).get("producer") or "")


def convert_and_verify(conv: Converter, model: Model, work: Path, ctx: Context) -> Cell:
    out = work / conv.name / model.name / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    code, _, err, seconds = run(convert_command(conv, model, out), ctx)
    cell = Cell(convert_exit=code, convert_seconds=seconds)
    if code != 0 or not out.is_file():
        cell.convert_exit = code or 1
        cell.convert_error = first_line(err) or f"exit {code} but no {out.name} written"
        return cell
    cell.nodes = node_count(out)
    verify(cell, model, out, ctx)
    return cell


# --------------------------------------------------------------------------- table


def verdict(cell: Cell) -> str:
    if cell.verify_exit is None:
        return "–"
    text = VERDICTS.get(cell.verify_exit, f"exit {cell.verify_exit}")
    first = cell.verify_reason.split("; ")[0].splitlines()[0] if cell.verify_reason else ""
    if first and (cell.verify_exit != 1 or "> tolerance" not in first):  # not a numeric failure
        text += f": {first[:120]}"
    return f"{text} ({cell.verify_exit})"


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cell_columns(cell: Cell | None, row_error: str) -> list[str]:
    if cell is None:
        return [md(row_error) or "–", "–", "–", "–", "–"]
    if cell.convert_exit != 0:
        return [f"exit {cell.convert_exit}: {md(cell.convert_error)}", "–", "–", "–", "–"]
    tol = "–" if cell.min_tolerance is None else f"{cell.min_tolerance:.1e}"
    return [
        f"{cell.convert_seconds:.2f} s"
        if cell.convert_seconds < 10
        else f"{cell.convert_seconds:.0f} s",
        "–" if cell.nodes is None else str(cell.nodes),
        md(verdict(cell)),
        tol,
        md(cell.divergence) or "–",
    ]


def table(rows: list[Row], converters: list[Converter]) -> str:
    head = ["model"]
    for conv in converters:
        n = conv.name
        head += [f"{n}: convert", f"{n}: nodes", f"{n}: verdict", f"{n}: min tol", f"{n}: diverges"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cols = [row.model]
        for conv in converters:
            cols += cell_columns(row.cells.get(conv.name), row.error)
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--models", default="", help="zoo names or patterns, comma-separated")
    p.add_argument(
        "--paddle-model",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a Paddle model folder, or a folder of them (repeatable)",
    )
    p.add_argument(
        "--converter",
        action="append",
        default=[],
        metavar="NAME=CMD",
        help="an external converter: NAME='CMD {model} {params} {out}' (repeatable)",
    )
    p.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    p.add_argument("--json", type=Path, default=None, help="also write every cell here")
    return p.parse_args(argv)


def collect_models(args: argparse.Namespace, work: Path, ctx: Context) -> list[Model]:
    patterns = [p.strip() for p in args.models.split(",") if p.strip()]
    models = [Model(n, True, work / "paddle" / n) for n in zoo_names(patterns, ctx)]
    for path in args.paddle_model:
        models += [Model(d.name, False, d) for d in paddle_folders(path)]
    if not models:
        raise UsageError("no models: give --models and/or --paddle-model")
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two models are named {', '.join(dupes)}")
    return models


def measure(
    models: list[Model], converters: list[Converter], work: Path, ctx: Context
) -> list[Row]:
    """Export (zoo models), convert with each converter, verify: one row per model."""
    rows = []
    for i, model in enumerate(models, 1):
        row = Row(model.name)
        rows.append(row)
        if model.zoo:
            row.error = export_zoo(model, ctx)
            if row.error:
                log(f"[{i}/{len(models)}] {model.name}: {row.error}")
                continue
        for conv in converters:
            cell = convert_and_verify(conv, model, work, ctx)
            row.cells[conv.name] = cell
            summary = " · ".join(cell_columns(cell, ""))
            log(f"[{i}/{len(models)}] {model.name} · {conv.name}: {summary}")
    return rows


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(143)  # unwinds: the running child is killed, the temporary folder removed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        converters = [Converter("p2o"), *(Converter.parse(s) for s in args.converter)]
        names = [c.name for c in converters]
        if len(set(names)) != len(names):
            raise UsageError(f"converter names must differ: {', '.join(names)}")
        with tempfile.TemporaryDirectory(prefix="p2o-converters-") as tmp:
            work = Path(tmp)
            ctx = Context(args.timeout, work / "tmp")
            ctx.tmp.mkdir()
            models = collect_models(args, work, ctx)
            rows = measure(models, converters, work, ctx)
    except UsageError as exc:
        print(f"converters.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("converters.py: interrupted", file=sys.stderr)
        return 130
    print(table(rows, converters))
    if args.json:
        data = [
            {"model": r.model, "error": r.error, **{k: c.to_dict() for k, c in r.cells.items()}}
            for r in rows
        ]
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())
