"""The conversion pipeline: export → paddle2onnx (isolated) → op mappings → check → simplify.

Everything is built in a temporary directory; ``model.onnx`` and ``manifest.json`` reach
the output directory only after every step passed, each written whole (temp + rename),
the manifest last: a directory without a manifest holds no finished conversion.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o import __version__
from p2o.converter import boundary, export, ops, paddle2onnx, simplify, source
from p2o.converter import precision as precision_pass
from p2o.converter.align_groups import align_groups as align_groups_pass
from p2o.converter.export import state_sha256
from p2o.converter.manifest import (
    IDENTITY_PREFIX,
    MANIFEST_FILE,
    Manifest,
    TensorSpec,
    identity,
)
from p2o.converter.precision import PrecisionOptions
from p2o.converter.source import (
    ModelSource,
    PaddleModelSource,
    locate_paddle_model,
    terminate_as_interrupt,
)
from p2o.core import progress
from p2o.core.errors import CheckFailed, UsageError
from p2o.core.files import temporary_folder, write_atomic
from p2o.core.versions import tool_versions
from p2o.zoo import create_model, model_info
from p2o.zoo.inputs import sample_batch

MODEL_FILE = "model.onnx"
INVOLUTION_MODES = ("function", "unfold")
INVOLUTION_BODIES = ops.TARGETS  # the runtime targets whose bodies the op mappings pick
DEFAULT_OPSET = 17
# what convert() writes into manifest["options"] when called with its defaults
DEFAULT_OPTIONS = {
    "opset": DEFAULT_OPSET,
    "batch": "dynamic",
    "simplifier": "onnxsim",
    "involution": "function",
    "involution_body": "cpu",
    "align_groups": 0,
    "precision": "fp32",
}
OPSET_RANGE = (11, 21)
EQUIVALENCE_IMAGES = 2


@dataclass(frozen=True)
class ConversionResult:
    out_dir: Path
    manifest: Manifest

    @property
    def onnx_path(self) -> Path:
        return self.out_dir / MODEL_FILE

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST_FILE


class _Stages:
    """Wall time per stage; a stage that runs more than once (checks, proofs) adds up."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._total: dict[str, float] = {}
        self._clock = clock

    @property
    def seconds(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self._total.items()}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = self._clock()
        try:
            with progress.step(name):  # a line per stage on stderr (p2o.core.progress)
                yield
        finally:
            self._total[name] = self._total.get(name, 0.0) + self._clock() - t0


def _specs(values: Any) -> list[TensorSpec]:
    specs = []
    for v in values:
        t = v.type.tensor_type
        dims: list[int | str] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim
        ]
        specs.append(
            TensorSpec(v.name, dims, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name)
        )
    return specs


def _feed(batch: int | None, shape: tuple[int, ...], pp: Any = None) -> np.ndarray:

    images = sample_batch(EQUIVALENCE_IMAGES, pp)
    if tuple(images.shape[1:]) != tuple(shape):
        images = np.random.default_rng(0).standard_normal((EQUIVALENCE_IMAGES, *shape), np.float32)
    n = batch or EQUIVALENCE_IMAGES
    return np.resize(images, (n, *images.shape[1:])).astype(np.float32)


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    existing = [p.name for p in (out_dir / MODEL_FILE, out_dir / MANIFEST_FILE) if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{out_dir} already holds {', '.join(existing)}; pass --overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output path {out_dir} exists and is not a directory")


def _check_options(o: ConvertOptions) -> None:
    if (o.model is None) == (o.paddle_model is None):
        raise UsageError("give exactly one of a zoo model name or a Paddle model directory")
    if not OPSET_RANGE[0] <= o.opset <= OPSET_RANGE[1]:
        raise UsageError(
            f"opset {o.opset} outside the supported {OPSET_RANGE[0]}..{OPSET_RANGE[1]}"
        )
    if o.batch is not None and o.batch < 1:
        raise UsageError(f"batch must be >= 1 or dynamic, got {o.batch}")
    if o.simplifier not in simplify.SIMPLIFIERS:
        raise UsageError(f"unknown simplifier {o.simplifier!r} ({', '.join(simplify.SIMPLIFIERS)})")
    if o.involution not in INVOLUTION_MODES:
        raise UsageError(
            f"unknown involution mode {o.involution!r} ({', '.join(INVOLUTION_MODES)})"
        )
    if o.involution_body not in INVOLUTION_BODIES:
        raise UsageError(
            f"unknown involution body {o.involution_body!r} ({', '.join(INVOLUTION_BODIES)})"
        )
    if o.align_groups == 1 or o.align_groups < 0:
        raise UsageError(
            f"--align-groups wants 0 (off) or a block of >= 2 channels, got {o.align_groups}"
        )
    if o.paddle_model is not None and o.weights is not None:
        raise UsageError("--weights applies to zoo models; a Paddle model dir has its own")


@dataclass
class _Source:
    """What is converted: its name, input shape, exported files and description."""

    name: str
    shape: tuple[int, ...]
    out: Path
    files: source.PaddleModelFiles
    source: dict[str, Any]
    marks: dict[str, list[dict[str, int]]]  # per op mapping: what p2o marked at export
    preprocess: Any = None  # the model's preprocessing (a zoo.registry.Preprocess)
    fixed_batch: int | None = None  # a Paddle program's own fixed batch size


def _weights_desc(weights: str | Path | None, seed: int) -> str:
    if weights is None:
        return f"synthetic(seed={seed})"
    return "pretrained" if str(weights) == "pretrained" else str(weights)


def _zoo_source(
    model: str,
    weights: str | Path | None,
    seed: int,
    out_dir: str | Path | None,
    overwrite: bool,
    mark_ops: bool,
    batch: int | None,
    tmp: Path,
    stages: _Stages,
) -> _Source:

    info = model_info(model)
    out = Path(out_dir) if out_dir else Path("p2o-out") / info.name
    _prepare_out_dir(out, overwrite)
    with stages("build"):
        net = create_model(info.name, weights=weights, seed=seed)
    source = {
        "kind": "zoo",
        "name": info.name,
        "weights": _weights_desc(weights, seed),
        "weights_sha256": state_sha256(net),
    }
    with stages("export"), contextlib.ExitStack() as stack:
        marks = {}
        if mark_ops:  # each op mapping's layers mark their boundaries in the program
            marks = {m.name: stack.enter_context(m.mark(net)) for m in ops.REGISTRY.values()}
        files = export.export_static(net, tmp / "paddle", info.input_shape, batch)
    return _Source(info.name, info.input_shape, out, files, source, marks, info.preprocess)


def _paddle_source(
    paddle_model: str | Path,
    params: str | Path | None,
    config: str | Path | None,
    out_dir: str | Path | None,
    overwrite: bool,
    tmp: Path,
) -> _Source:
    """A user's model: folder, program file or archive (unpacked into ``tmp``), checked."""

    src = locate_paddle_model(paddle_model, params, config, unpack_dir=tmp)
    out = Path(out_dir) if out_dir else Path("p2o-out") / src.name
    _prepare_out_dir(out, overwrite)
    return _Source(
        src.name,
        src.input_shape,
        out,
        src.files,
        src.to_dict(),
        {},
        src.preprocess,
        src.fixed_batch,
    )


def _check(model: onnx.ModelProto, what: str) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise CheckFailed(f"onnx.checker rejects the {what}: {exc}") from exc


class _Proof:
    """Each graph pass proved against the outputs of its input, computed BEFORE the pass ran.

    So a pass that returns its input, or edits it in place, is still compared with what the
    model computed before (never a model with itself).
    """

    def __init__(self, model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> None:
        self.feed = feed
        self.first = self.outputs = simplify.ort_run(model, feed)
        self.proofs: dict[str, dict[str, float]] = {}

    def check(
        self, model: onnx.ModelProto, stage: str, tolerance: float = simplify.TOLERANCE
    ) -> simplify.Equivalence:
        """Compare ``model`` with the current outputs; keep its outputs when it passed."""
        after = simplify.try_run(model, self.feed)
        if isinstance(after, str):
            return simplify.Equivalence(math.inf, math.inf, math.inf, False, after)
        eq = simplify.outputs_equal(self.outputs, after, tolerance)
        if eq:
            self.outputs = after
            self.proofs[stage] = eq.to_dict()
        return eq

    def rebase(self, model: onnx.ModelProto, stage: str, eq: simplify.Equivalence) -> None:
        """A correction (proved on its own terms): later passes are proved against it."""
        self.first = self.outputs = simplify.ort_run(model, self.feed)
        self.proofs[stage] = eq.to_dict()

    def overall(self) -> simplify.Equivalence:
        """The written model's outputs against paddle2onnx's graph (after its corrections)."""
        return simplify.outputs_equal(self.first, self.outputs)


@dataclass
class _Mapped:
    model: onnx.ModelProto
    configs: dict[str, list[dict[str, int]]]  # per op mapping: the nodes it made
    eq: simplify.Equivalence | None = None

    @property
    def count(self) -> int:
        return sum(len(c) for c in self.configs.values())


def _map_one(
    mapping: ops.OpMapping,
    model: onnx.ModelProto,
    marked: list[dict[str, int]],
    mode: str,
    target: str,
    program: Path | None,
) -> list[dict[str, int]]:
    if marked:
        return marked[: mapping.map_marked(model, marked, target)]
    found = mapping.find(model, program) if mode == "function" else []
    return mapping.map_found(model, found, target) if found else []


def _correct(
    mapping: ops.OpMapping,
    mapped: _Mapped,
    program: Path | None,
    proof: _Proof,
    notes: list[str],
    target: str,
) -> None:
    """A correcting mapping, applied only when its own proof holds (else a note)."""
    found = mapping.find(mapped.model, program)
    if not found or mapping.prove is None:
        return
    trial = onnx.ModelProto()
    trial.CopyFrom(mapped.model)
    configs = mapping.map_found(trial, found, target)
    eq = mapping.prove(trial, found, proof.feed)
    if not eq:
        notes.append(
            f"{mapping.name}: {len(found)} lowerings to correct, but the correction was not "
            f"proved ({eq.describe()}): kept paddle2onnx's graph"
        )
        return
    mapped.model.CopyFrom(trial)
    mapped.configs[mapping.name] = configs
    proof.rebase(mapped.model, f"map_ops.{mapping.name}", eq)
    notes.append(
        f"{mapping.name}: paddle2onnx wrote {len(configs)} op(s) in the {mapping.lowering}; "
        f"corrected, and proved against the definition (min tolerance {eq.min_tolerance:.2e})"
    )


def _map_ops(
    onnx_model: onnx.ModelProto,
    marks: dict[str, list[dict[str, int]]],
    mode: str,
    proof: _Proof,
    notes: list[str],
    target: str = "cpu",
    program: Path | None = None,
) -> _Mapped:
    """Every op mapping (p2o's markers, else recognised lowerings), proved against the input;
    then the correcting mappings, each proved against its own definition."""
    mapped = _map_equal(onnx_model, marks, mode, proof, notes, target, program)
    for mapping in ops.REGISTRY.values():
        if mapping.corrects:
            _correct(mapping, mapped, program, proof, notes, target)
    return mapped


def _map_equal(
    onnx_model: onnx.ModelProto,
    marks: dict[str, list[dict[str, int]]],
    mode: str,
    proof: _Proof,
    notes: list[str],
    target: str,
    program: Path | None,
) -> _Mapped:
    """The mappings that keep the numbers, proved equal to paddle2onnx's graph together."""
    before = onnx.ModelProto()
    before.CopyFrom(onnx_model)
    configs = {
        m.name: _map_one(m, onnx_model, marks.get(m.name, []), mode, target, program)
        for m in ops.REGISTRY.values()
        if not m.corrects
    }
    mapped = _Mapped(onnx_model, {k: v for k, v in configs.items() if v})
    if not mapped.count:
        return mapped
    names = " and ".join(f"{k}s" for k in mapped.configs)
    marked = any(marks.values())
    mapped.eq = proof.check(onnx_model, "map_ops")
    if not mapped.eq and marked:  # p2o's own markers: a bug, never shipped
        raise CheckFailed(
            f"mapping {names} changed the model's outputs ({mapped.eq.describe()}); nothing written"
        )
    if not mapped.eq:  # a recognition that does not hold: keep paddle2onnx's lowering
        notes.append(
            f"{mapped.count} {names[:-1]} lowerings recognised, but the mapped graph was not "
            f"equal ({mapped.eq.describe()}): kept paddle2onnx's lowering"
        )
        return _Mapped(before, {})
    if not marked:
        for name, found in mapped.configs.items():
            notes.append(
                f"{len(found)} {name}s recognised in paddle2onnx's "
                f"{ops.REGISTRY[name].lowering} lowering "
                "(a model without p2o's markers) and mapped"
            )
    return mapped


def _custom_ops(mapped: _Mapped) -> list[dict[str, Any]]:
    return [ops.REGISTRY[k].describe(mapped.model, v) for k, v in mapped.configs.items()]


def _simplify(model: onnx.ModelProto, tool: str, proof: _Proof) -> onnx.ModelProto:
    """The strict proof (an explicit ``--simplifier``): at PROOF_TOLERANCE, or nothing written."""
    simplified = simplify.simplify(model, tool)
    eq = proof.check(simplified, "simplify")
    if not eq:
        raise CheckFailed(f"{tool} changed the model's outputs ({eq.describe()}); nothing written")
    _check(simplified, f"model {tool} simplified")
    return simplified


def _try_simplifier(
    model: onnx.ModelProto, tool: str, proof: _Proof, noise: list[float]
) -> tuple[onnx.ModelProto | None, str]:
    """``tool``'s graph when proved (at PROOF_TOLERANCE, else within the unsimplified graph's
    measured float noise, ``simplify.noise_tolerance``), or None and why not."""
    trial = onnx.ModelProto()
    trial.CopyFrom(model)  # a simplifier that edits its input and then fails leaves no trace
    try:
        simplified = simplify.simplify(trial, tool)
        _check(simplified, f"model {tool} simplified")
    except ImportError as exc:
        return None, f"not installed ({exc})"
    except Exception as exc:  # a third-party tool's own error types: the next one is tried
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, f"failed: {first[:300]}"
    eq = proof.check(simplified, "simplify")
    if eq:
        return simplified, ""
    if eq.error:
        return None, f"not proved ({eq.describe()})"
    if not noise:  # measured once, only when needed (the zoo never gets here)
        noise.append(simplify.float_noise(model, proof.feed, proof.outputs))
    allowed = simplify.noise_tolerance(noise[0])
    eq = proof.check(simplified, "simplify", allowed)
    if not eq:
        return None, (
            f"not proved ({eq.describe()}; the unsimplified graph's own float noise is "
            f"{noise[0]:.2g}, allowed {simplify.NOISE_MULTIPLE:g}x that, at most "
            f"{simplify.NOISE_CEILING:g})"
        )
    return simplified, (
        f"proved within its float noise: min tolerance {eq.min_tolerance:.2g} <= {allowed:.2g} "
        f"({simplify.NOISE_MULTIPLE:g}x the unsimplified graph's noise {noise[0]:.2g}, ONNX "
        "Runtime's graph optimizations off vs on)"
    )


def _simplify_or_fall_back(
    model: onnx.ModelProto, first: str, proof: _Proof, notes: list[str]
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The default: ``first``, then the simplifiers after it (onnxsim → onnxslim → none), the
    first one proved is kept; each one passed over is a note (and a line on stderr)."""
    tools = simplify.SIMPLIFIERS[simplify.SIMPLIFIERS.index(first) :]
    noise: list[float] = []
    tried: dict[str, str] = {}
    chosen, used = model, "none"
    for tool in tools:
        if tool == "none":
            break
        simplified, why = _try_simplifier(model, tool, proof, noise)
        tried[tool] = why or "proved"
        if simplified is not None:
            chosen, used = simplified, tool
            if why:
                notes.append(f"simplifier {tool}: {why}")
            break
        note = f"simplifier {tool} {why}: trying the next one"
        notes.append(note)
        progress.info(note)
    if used != first:
        note = f"simplifier used: {used} (asked {first}, which could not be proved)"
        notes.append(note)
        progress.info(note)
    record: dict[str, Any] = {"asked": first, "used": used, "strict": False, "tried": tried}
    if noise:
        record["float_noise"] = noise[0]
        record["noise_tolerance"] = simplify.noise_tolerance(noise[0])
    return chosen, record


def _align(model: onnx.ModelProto, block: int, proof: _Proof) -> dict[str, Any]:
    report = align_groups_pass(model, block=block)
    if report.widened:
        eq = proof.check(model, "align_groups")
        if not eq:
            raise CheckFailed(
                "aligning grouped convolutions changed the model's outputs "
                f"({eq.describe()}); nothing written"
            )
        _check(model, "model with aligned groups")
    return report.to_dict()


def _stamp(model: onnx.ModelProto, ident: dict[str, str]) -> bytes:
    """The model's bytes with p2o as producer and its identity (deterministic order)."""
    model.producer_name = "p2o"
    model.producer_version = __version__
    kept = [p for p in model.metadata_props if not p.key.startswith(IDENTITY_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key in sorted(ident):
        model.metadata_props.add(key=key, value=ident[key])
    return model.SerializeToString(deterministic=True)


def _write(out: Path, data: bytes, manifest: Manifest) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stale = out / MANIFEST_FILE
    if stale.exists():  # never leave an old manifest beside a new model
        stale.unlink()
    write_atomic(out / MODEL_FILE, data)
    write_atomic(out / MANIFEST_FILE, manifest.to_json().encode())


@dataclass(frozen=True)
class ConvertOptions(ModelSource):
    """The options of ``convert``: the model (``ModelSource``), where to write, and how."""

    out_dir: str | Path | None = None
    opset: int = DEFAULT_OPSET
    batch: int | None = None
    simplifier: str = "onnxsim"
    # True (an explicit --simplifier): that simplifier or nothing written; False: fall back
    # onnxsim → onnxslim → none, judged against the graph's float noise (docs/converter.md)
    strict_simplifier: bool = False
    involution: str = "function"
    involution_body: str = "cpu"
    align_groups: int = 0
    precision: str | PrecisionOptions = "fp32"
    overwrite: bool = False


def convert(o: ConvertOptions) -> ConversionResult:
    """Convert a zoo model (``model``) or a user's Paddle model (``paddle_model``).

    ``paddle_model`` is a folder, a program file or an archive (``p2o.converter.source``);
    ``params`` and ``inference_config`` name its parameters and PaddleClas config when they
    are not beside the program.

    Returns the result with the manifest; raises UsageError for bad input (nothing
    written), ConversionError when paddle2onnx fails, CheckFailed when a check fails.
    """
    _check_options(o)
    if o.paddle_model is None and (o.params is not None or o.inference_config is not None):
        raise UsageError("--params and --inference-config go with --paddle-model")
    prec = (
        o.precision if isinstance(o.precision, PrecisionOptions) else PrecisionOptions(o.precision)
    )
    options = {
        "opset": o.opset,
        "batch": o.batch or "dynamic",
        "simplifier": o.simplifier,
        "involution": o.involution,
        "involution_body": o.involution_body,
        "align_groups": o.align_groups,
        "precision": prec.precision,
    }
    stages = _Stages()
    title = f"convert {o.model or Path(str(o.paddle_model)).name}"

    with (
        progress.step(title),
        terminate_as_interrupt(),  # SIGTERM too removes the folder (an archive unpacked in it)
        temporary_folder("p2o-convert-") as tmp,
    ):
        if o.model is not None:
            mark = o.involution == "function"
            src = _zoo_source(
                o.model, o.weights, o.seed, o.out_dir, o.overwrite, mark, o.batch, Path(tmp), stages
            )
        else:
            given = o.paddle_model
            assert given is not None
            if isinstance(given, PaddleModelSource):  # opened elsewhere: located again here
                given = given.archive or given.given_path
            src = _paddle_source(
                given, o.params, o.inference_config, o.out_dir, o.overwrite, Path(tmp)
            )
        with stages("paddle2onnx"):
            p2o_result = paddle2onnx.convert(src.files.model_file, src.files.params_file, o.opset)
        passes = _run_passes(p2o_result, src, options, stages, o.strict_simplifier)
        if prec.precision != "fp32":
            with stages("precision"):
                passes.precision = _reduce_precision(passes, prec, src.preprocess)
        data = _stamp(passes.model, identity(src.name, src.source, options))
        manifest = _manifest(src, options, p2o_result, passes, stages, data)
        _write(src.out, data, manifest)
    return ConversionResult(src.out, manifest)


@dataclass
class _Passes:
    """The graph after every pass, and what each pass proved and changed."""

    model: onnx.ModelProto
    mapped: _Mapped
    proof: _Proof
    counts: dict[str, int]
    aligned: dict[str, Any]
    notes: list[str]
    precision: dict[str, Any] = field(default_factory=dict)
    simplifier: dict[str, Any] = field(default_factory=dict)  # asked, used, why the others not


def _reduce_precision(passes: _Passes, prec: PrecisionOptions, preprocess: Any) -> dict[str, Any]:
    """fp16 / int8 (converter.precision; judged by its own acceptance rule, not proved equal)."""

    passes.model, applied = precision_pass.apply(passes.model, prec, preprocess)
    _check(passes.model, f"{prec.precision} model")
    return {**applied.to_dict(), "options": prec.to_dict()}


def _run_passes(
    p2o_result: paddle2onnx.Paddle2OnnxResult,
    src: _Source,
    options: dict[str, Any],
    stages: _Stages,
    strict_simplifier: bool = False,
) -> _Passes:
    """paddle2onnx's graph → op mappings → check → simplifier → group alignment, each proved."""
    onnx_model = onnx.load_from_string(p2o_result.onnx_bytes)
    counts = {"paddle2onnx": len(onnx_model.graph.node) - len(boundary.find(onnx_model))}
    if not any(src.marks.values()):
        boundary.strip(onnx_model)
    batch = options["batch"] if isinstance(options["batch"], int) else None
    feed = {
        onnx_model.graph.input[0].name: _feed(batch or src.fixed_batch, src.shape, src.preprocess)
    }
    notes: list[str] = []
    with stages("equivalence"):
        proof = _Proof(onnx_model, feed)  # markers are Clips at ±2e38: identities
    with stages("map_ops"):
        mapped = _map_ops(
            onnx_model,
            src.marks,
            options["involution"],
            proof,
            notes,
            options["involution_body"],
            src.files.model_file,
        )
    counts["mapped"] = len(mapped.model.graph.node)
    with stages("check"):
        _check(mapped.model, "converted model")
    with stages("simplify"):
        tool = options["simplifier"]
        if strict_simplifier or tool == "none":
            final = _simplify(mapped.model, tool, proof)
            simplified: dict[str, Any] = {"asked": tool, "used": tool, "strict": True}
        else:
            final, simplified = _simplify_or_fall_back(mapped.model, tool, proof, notes)
    counts["simplified"] = len(final.graph.node)
    aligned: dict[str, Any] = {}
    if options["align_groups"]:
        with stages("align_groups"):
            aligned = _align(final, options["align_groups"], proof)
    return _Passes(final, mapped, proof, counts, aligned, notes, simplifier=simplified)


def _manifest(
    src: _Source,
    options: dict[str, Any],
    p2o_result: paddle2onnx.Paddle2OnnxResult,
    passes: _Passes,
    stages: _Stages,
    data: bytes,
) -> Manifest:
    eq = passes.proof.overall()
    graph = passes.model.graph
    return Manifest(
        model=src.name,
        source=src.source,
        options=options,
        tools=tool_versions(),
        opset=p2o_result.opset,
        opset_requested=options["opset"],
        opset_raised_because=p2o_result.opset_raised_because,
        inputs=_specs(graph.input),
        outputs=_specs(graph.output),
        node_counts=passes.counts,
        custom_ops=_custom_ops(passes.mapped),
        stage_seconds=stages.seconds,
        equivalence={
            "inputs": f"{len(next(iter(passes.proof.feed.values())))} sample photographs",
            "rule": "p2o.core.tolerance",
            "tolerance": simplify.TOLERANCE,
            "min_tolerance": eq.min_tolerance,  # the written model vs paddle2onnx's graph
            "max_abs": eq.max_abs,
            "max_rel": eq.max_rel,
            "mapping_max_rel": None if passes.mapped.eq is None else passes.mapped.eq.max_rel,
            "proofs": passes.proof.proofs,  # each pass against its own input
            "simplifier": passes.simplifier,  # asked, used, and why another was passed over
        },
        onnx_sha256=hashlib.sha256(data).hexdigest(),
        onnx_bytes=len(data),
        notes=passes.notes,
        align_groups=passes.aligned,
        precision=passes.precision,
    )
