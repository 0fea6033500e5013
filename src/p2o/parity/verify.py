"""``verify``: does the ONNX artifact compute what the Paddle model computes, on each runtime?

Sources (one of):
- a zoo model alone: converted first (or an up-to-date conversion reused), Paddle reference
  from the same network;
- ``onnx_file`` + ``paddle_model``: a user's ONNX file against an exported Paddle model;
- ``onnx_file`` + a zoo model (with its weights or seed): the network is the reference;
- ``onnx_file`` + ``golden``: saved inputs and reference outputs, no Paddle needed.

Which model, weights, ONNX file and reference: ``p2o.parity.subject`` (by content; an ONNX file
whose identity names another model or weights is refused, exit 2). Paddle's reference is
computed once per sample (and kept in p2o's cache by content), then sliced for each batch
size. Each runtime runs every batch size; one ``RuntimeResult`` per runtime and batch size. A
runtime that cannot run the asked precision is skipped with the reason, like a missing
package. Beside every verdict, the reference's own noise floor (``p2o.parity.noise``). When a
runtime fails, the first diverging op is found from the Paddle program (``p2o.parity.trace``;
a zoo network is exported to one), else, for a zoo network, from its dygraph layers
(``p2o.parity.localize``); ``repro`` writes the diverging subgraph in ONNX's test-data layout.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from p2o.converter.manifest import producer
from p2o.converter.precision import detect
from p2o.converter.source import (
    ModelSource,
    PaddleModelFiles,
    PaddleModelSource,
    find_paddle_model,
    with_paddle_model,
)
from p2o.core import cache, progress, provenance
from p2o.core.errors import EnvironmentProblem, P2OError, UsageError
from p2o.core.hashing import sha256_file
from p2o.core.results import AccuracyResult, NoiseFloor, Status, VerifyResult
from p2o.core.tolerance import (
    DEFAULT_TOLERANCE,
    ParityReport,
    RuntimeResult,
    check_tolerance,
    compare_all,
)
from p2o.core.versions import tool_versions
from p2o.parity import acceptance, noise, subject, trace
from p2o.parity.golden import Golden, onnx_identity, preprocessing_of
from p2o.parity.labels import accuracy, load_labels
from p2o.parity.localize import Divergence, localize
from p2o.runtimes import registry as rt
from p2o.zoo import crops, model_info
from p2o.zoo import inputs as zin
from p2o.zoo.digest import synthesis_code_digest

DEFAULT_RUNTIMES = ("ort-cpu", "openvino")
DEFAULT_BATCHES = (1, 4)
REFERENCE = "paddle-plain"  # plain CPU kernels: see docs/verify.md, "Why plain kernels"


def load_inputs(
    spec: str, shape: tuple[int, int, int] = (3, 224, 224), pp: Any = None
) -> tuple[np.ndarray, str]:
    """``samples`` (default photos), ``random[:N]``, a ``.npz``/``.npy`` file, or a folder.

    Photos are preprocessed with ``pp`` (a ``Preprocess``; the ImageNet default when None).
    """

    if spec == "samples":
        return zin.sample_batch(pp=pp), f"{len(zin.SAMPLE_IMAGES)} scikit-image photographs"
    if spec.startswith("random"):
        count = int(spec.split(":", 1)[1]) if ":" in spec else 8
        if count < 1:
            raise UsageError("random:N needs N >= 1")
        return zin.random_batch(count, 0, shape), f"{count} seeded random tensors"
    path = Path(spec)
    if path.is_dir():
        return zin.folder_batch(path, pp), f"images of {path}"
    if path.suffix in (".npz", ".npy") and path.is_file():
        try:
            data = np.load(path, allow_pickle=False)
            arr = data if isinstance(data, np.ndarray) else data[data.files[0]]
        except (OSError, ValueError, IndexError) as exc:
            raise UsageError(f"cannot read inputs from {path}: {exc}") from exc
        arr = np.asarray(arr, np.float32)
        if arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(shape):
            raise UsageError(f"inputs in {path} have shape {arr.shape}; expected [N, {shape}]")
        return arr, f"{len(arr)} tensors from {path}"
    raise UsageError(
        f"--inputs {spec!r}: not 'samples', 'random[:N]', an image folder or .npz/.npy"
    )


def batched(x: np.ndarray, batch: int) -> list[np.ndarray]:
    """Whole batches of ``batch`` samples; inputs repeated when there are fewer than that."""
    if len(x) < batch:
        x = np.resize(x, (batch, *x.shape[1:]))
    n = len(x) // batch * batch
    return [x[i : i + batch] for i in range(0, n, batch)]


def run_batches(runner: Any, x: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    parts = [runner.run(chunk) for chunk in batched(x, batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def batch_indices(n: int, batch: int) -> np.ndarray:
    """Which of ``n`` samples make up whole batches of ``batch`` (repeated when fewer)."""
    idx = np.arange(n)
    if n < batch:
        idx = np.resize(idx, batch)
    return idx[: len(idx) // batch * batch]


@dataclass
class _Data:
    """The inputs at every batch size and the reference's outputs for them."""

    x_by_batch: dict[int, np.ndarray]
    reference: dict[int, dict[str, np.ndarray]]
    reference_name: str
    model_name: str
    inputs_desc: str
    golden_saved: str | None = None

    @property
    def batches(self) -> list[int]:
        return sorted(self.x_by_batch)


@dataclass
class _Checks:
    """How every runtime's outputs are judged, and the labelled images' logits so far."""

    tol: float
    overrides: dict[str, float] | None
    rules: acceptance.Rules
    threads: int
    x_labelled: np.ndarray | None = None
    labelled_out: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyOptions(ModelSource):
    """The options of ``verify``: the model (``ModelSource``), the ONNX file to judge, how."""

    onnx_file: str | Path | None = None
    golden: str | Path | None = None
    save_golden: str | Path | None = None
    tolerance: float | str = DEFAULT_TOLERANCE  # or "auto": a multiple of the noise floor
    output_tolerances: dict[str, float] | None = None
    runtimes: Sequence[str] = DEFAULT_RUNTIMES
    inputs: str = "samples"
    batches: Sequence[int] = DEFAULT_BATCHES
    precision: str = "fp32"
    threads: int = 2
    strict: bool = False
    work_dir: str | Path | None = None
    localize: bool = True
    rule_overrides: dict[str, Any] | None = None
    labels: str | Path | None = None
    class_list: str | Path | None = None
    max_accuracy_drop: float | None = None
    repro: str | Path | None = None  # when it fails: the diverging subgraph, ONNX test-data layout


@with_paddle_model
def verify(o: VerifyOptions) -> VerifyResult:
    """Every runtime against the reference, at every batch size (see the module docstring)."""
    auto = o.tolerance == "auto"
    tol = DEFAULT_TOLERANCE if auto else check_tolerance(o.tolerance)
    names = _check_args(o.model, o.onnx_file, o.paddle_model, o.golden, o.runtimes, o.batches)
    if o.onnx_file is not None:
        _check_onnx_file(Path(o.onnx_file))
    _check_repro(o.repro, o.golden)
    labelled = _load_labels(o.labels, o.class_list, o.golden)
    assert o.paddle_model is None or isinstance(o.paddle_model, PaddleModelSource)  # opened
    subj = subject.of(o)
    assert subj.onnx_path is not None
    notes: list[str] = []
    batches = _fixed_batch(subj, o.batches, notes)

    rules = acceptance.Rules(detect(subj.onnx_path), o.precision, dict(o.rule_overrides or {}))
    checks = _Checks(tol, o.output_tolerances, rules, o.threads)
    with subject.paddle_dir(subj.reference) as ref_dir:
        if o.golden is not None:
            data = _golden_data(o.golden, subj.onnx_path, notes)
        else:
            x, desc = _inputs(subj, o.inputs, rules, names)
            data = _paddle_data(subj, ref_dir, x, desc, o.inputs, batches, o.threads, o.save_golden)
        floor = None
        if not rules.reduced(names):  # (an element-wise floor means nothing for fp16/int8)
            floor = _noise_floor(subj, ref_dir, data, o.threads, notes)
        if auto:
            checks.tol = tol = _auto_tolerance(floor, notes)
        if labelled is not None:
            checks.x_labelled = labelled.load(_crop_preprocess(subj))
            ref = reference_outputs(
                ref_dir, checks.x_labelled, o.threads, chunk=1, model_key=_model_key(subj)
            )
            checks.labelled_out[REFERENCE] = _first(ref)
        results = [
            r
            for name in names
            for r in _run_runtime(
                name,
                subject.materialize(ref_dir) if rt.kind(name) == "paddle" else subj.onnx_path,
                data,
                checks,
            )
        ]
        failed = any(r.status == "failed" for r in results)
        divergence = None
        if o.localize and failed and ref_dir is not None and not rules.reduced(names):
            divergence = _trace(ref_dir, subj.onnx_path, data, tol, floor, o.repro, notes)
    accuracy: list[AccuracyResult] = []
    if labelled is not None:
        accuracy, results = _accuracy(
            labelled, checks.labelled_out, results, rules, o.max_accuracy_drop
        )
    report = ParityReport(
        data.model_name,
        tol,
        data.reference_name,
        results,
        o.strict,
        dict(o.output_tolerances or {}),
    )
    if o.repro is not None and (divergence is None or not divergence.repro):
        notes.append(f"--repro {o.repro}: nothing written (no diverging op found)")
    zoo = subj.reference if subj.reference and subj.reference.kind == "zoo" else None
    if (
        divergence is None
        and o.localize
        and failed
        and zoo is not None
        and not rules.reduced(names)
    ):
        # (layer by layer at an fp32 tolerance means nothing for a reduced precision)
        x = data.x_by_batch[data.batches[0]][:1]
        divergence = _localize(zoo.net, subj.onnx_path, x, tol, notes)  # net built here if need be
    return VerifyResult(
        report,
        str(subj.onnx_path),
        data.inputs_desc,
        data.batches,
        divergence,
        data.golden_saved,
        notes,
        precision=rules.record(names),
        accuracy=accuracy,
        labels=None if labelled is None else labelled.source,
        provenance=_provenance(subj, o),
        noise_floor=floor,
    )


def _check_repro(repro: str | Path | None, golden: str | Path | None) -> None:
    if repro is None:
        return
    if golden is not None:
        raise UsageError("--repro needs the Paddle program; it cannot run with --golden")
    path = Path(repro)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"--repro {path}: exists and is not an empty folder")


def _trace(
    ref_dir: Any,
    onnx_path: Path | None,
    data: _Data,
    tol: float,
    floor: NoiseFloor | None,
    repro: str | Path | None,
    notes: list[str],
) -> Any:
    """The first diverging op of the Paddle program (``p2o.parity.trace``), and its repro."""
    assert onnx_path is not None
    b = data.batches[0]
    x = data.x_by_batch[b][:b]  # one batch of the smallest size (a fixed-batch program's own)
    try:
        src = subject.materialize(ref_dir)
        files = src if isinstance(src, PaddleModelFiles) else find_paddle_model(src)
        t = trace.trace(onnx.load(str(onnx_path)), files, x)
        found = trace.first_divergence(t, tol, floor)
    except Exception as exc:  # a diagnosis: it must not hide the verdict
        notes.append(f"could not trace the Paddle program: {type(exc).__name__}: {_one_line(exc)}")
        return None
    if found is None:
        notes.append(
            "every value of the Paddle program matched by name is within "
            f"{trace.threshold(tol, floor):.2g} on the first batch: no diverging op named"
        )
        return None
    if repro is None:
        return found.divergence
    try:
        written = trace.write_repro(t, found, repro)
    except Exception as exc:  # the diagnosis stands without its bundle
        notes.append(f"no repro written: {type(exc).__name__}: {_one_line(exc)}")
        return found.divergence
    return replace(found.divergence, repro=str(written))


def _noise_floor(
    subj: subject.Subject, ref_dir: Any, data: _Data, threads: int, notes: list[str]
) -> NoiseFloor | None:
    """The reference against itself on the first batch (``p2o.parity.noise``): Paddle's plain vs
    oneDNN kernels when the Paddle model is here, else ONNX Runtime's optimizations off vs on."""
    b = data.batches[-1]  # one batch, of the largest size (the reference ran in such batches)
    x = data.x_by_batch[b][:b]
    ref = {k: v[:b] for k, v in data.reference[b].items()}
    try:
        if ref_dir is not None and rt.get(noise.ONEDNN).availability():
            other = reference_outputs(
                ref_dir, x, threads, chunk=b, model_key=_model_key(subj), runtime=noise.ONEDNN
            )
            floor = noise.paddle_floor(ref, other, len(x))
            if floor.value <= noise.PLAUSIBLE_FLOOR:
                return floor
            notes.append(
                f"Paddle's oneDNN and plain kernels disagree by {floor.value:.2g} on this model: "
                "more than float noise (a defect of one engine); the noise floor is the ONNX "
                "graph's instead"
            )
        assert subj.onnx_path is not None
        return noise.onnx_floor(subj.onnx_path, x)
    except Exception as exc:  # a diagnosis: it must not hide the verdict
        notes.append(f"noise floor not measured: {type(exc).__name__}: {_one_line(exc)}")
        return None


def _auto_tolerance(floor: NoiseFloor | None, notes: list[str]) -> float:
    if floor is None:
        notes.append(f"--tolerance auto: no noise floor measured; tolerance {DEFAULT_TOLERANCE:g}")
        return DEFAULT_TOLERANCE
    tol = noise.auto_tolerance(floor)
    notes.append(
        f"--tolerance auto = {tol:.2g}: {noise.NOISE_MULTIPLE:g}x the noise floor "
        f"{floor.value:.2g} ({floor.detail}), within [{noise.AUTO_MIN_TOLERANCE:g}, "
        f"{noise.AUTO_MAX_TOLERANCE:g}]"
    )
    return tol


def _provenance(subj: subject.Subject, o: VerifyOptions) -> Any:
    ref = subj.reference
    if o.golden is not None:
        what = f"golden outputs {o.golden}"
    elif ref is None:
        what = ""
    else:
        what = f"{ref.kind} {ref.name}, Paddle Inference"
    return provenance.collect(
        threads=o.threads,
        onnx_sha256=sha256_file(subj.onnx_path) if subj.onnx_path else "",
        weights_sha256="" if ref is None else ref.weights_sha256,
        reference=what,
        producer=producer(subj.onnx_path) if subj.onnx_path else "",
    )


def _fixed_batch(subj: subject.Subject, batches: Sequence[int], notes: list[str]) -> list[int]:
    """The batch sizes to run: a Paddle program with a fixed batch size runs at that one only."""
    src = None if subj.reference is None else subj.reference.source
    n = None if src is None else src.fixed_batch
    if n is not None and set(batches) != {n}:
        notes.append(f"the program's batch size is fixed to {n}: verified at batch {n} only")
        return [n]
    return list(batches)


def _load_labels(
    labels: str | Path | None, class_list: str | Path | None, golden: str | Path | None
) -> Any:
    if labels is None:
        return None
    if golden is not None:
        raise UsageError("--labels needs the Paddle reference; it cannot run with --golden")

    return load_labels(labels, class_list)


def _crop_preprocess(subj: subject.Subject) -> Any:
    """The Paddle model's preprocessing, else the zoo model's (crops, labelled images)."""
    ref = subj.reference
    if ref is None:
        return None
    if ref.preprocess is not None or ref.kind != "zoo":
        return ref.preprocess

    return model_info(ref.name).preprocess


def _inputs(
    subj: subject.Subject, inputs: str, rules: acceptance.Rules, names: list[str]
) -> tuple[np.ndarray, str]:
    """The samples: ``--inputs``, or enough evaluation crops for a reduced precision's rule."""
    pp = None if subj.reference is None else subj.reference.preprocess
    if inputs == "samples" and rules.reduced(names):  # agreement needs many samples
        count = rules.samples(names)
        x = crops.crop_batch("evaluation", count, _crop_preprocess(subj))
        desc = f"{count} evaluation crops of the bundled photographs"
    else:
        x, desc = load_inputs(inputs, subj.shape, pp)
    if pp is not None:
        desc += f"; preprocessing {pp.describe()}"
    return x, desc


def _check_args(
    model: str | None,
    onnx_file: str | Path | None,
    paddle_model: Any,
    golden: str | Path | None,
    runtimes: Sequence[str],
    batches: Sequence[int],
) -> list[str]:
    """The runtimes to run, after every argument was checked (UsageError otherwise)."""
    names = list(dict.fromkeys(runtimes))
    for name in names:
        rt.get(name)
    if not names:
        raise UsageError("no runtime to verify")
    if any(int(b) < 1 for b in batches):
        raise UsageError(f"batch sizes must be >= 1, got {list(batches)}")
    if golden is not None and (paddle_model is not None or model is not None):
        raise UsageError(
            "--golden replaces the Paddle reference: don't combine it with --model/--paddle-model"
        )
    if golden is not None and onnx_file is None:
        raise UsageError("--golden needs --onnx FILE")
    if model is None and paddle_model is None and golden is None:
        raise UsageError(
            "give --model NAME, or --onnx FILE with --paddle-model DIR, --model or --golden"
        )
    if onnx_file is None and model is None:
        raise UsageError("--paddle-model needs --onnx FILE (the file to verify)")
    if model is not None and paddle_model is not None:
        raise UsageError("give either --model or --paddle-model as the reference, not both")
    if onnx_file is not None and not Path(onnx_file).is_file():
        raise UsageError(f"ONNX file not found: {onnx_file}")
    return names


def _golden_data(golden: str | Path, onnx_path: Path, notes: list[str]) -> _Data:
    g = Golden.load(golden)
    if (note := g.check_onnx(onnx_path)) is not None:  # refuses another file's golden
        notes.append(note)
    return _Data(
        g.inputs,
        g.outputs,
        f"golden:{g.meta.get('reference', REFERENCE)}",
        str(g.meta.get("model", onnx_path.stem)),
        f"golden inputs of {golden} ({g.meta.get('inputs', '?')})",
    )


def _paddle_data(
    subj: subject.Subject,
    ref_dir: Any,
    x: np.ndarray,
    desc: str,
    inputs: str,
    batches: Sequence[int],
    threads: int,
    save_golden: str | Path | None,
) -> _Data:
    """Paddle's outputs for the samples: computed once per sample, sliced for each batch."""
    assert ref_dir is not None and subj.reference is not None and subj.onnx_path is not None
    batch_list = sorted({int(b) for b in batches})
    index = {b: batch_indices(len(x), b) for b in batch_list}
    if len(batch_list) == 1:  # whole batches of that size (a fixed-batch program needs them)
        rows = index[batch_list[0]]
    else:  # every sample some batch size uses, once
        rows = np.unique(np.concatenate(list(index.values())))
    outputs = reference_outputs(
        ref_dir, x[rows], threads, chunk=max(batch_list), model_key=_model_key(subj)
    )
    x_by_batch, reference = {}, {}
    for b in batch_list:
        at = index[b] if len(batch_list) == 1 else np.searchsorted(rows, index[b])
        x_by_batch[b] = x[index[b]]
        reference[b] = {k: v[at] for k, v in outputs.items()}
    data = _Data(x_by_batch, reference, REFERENCE, subj.reference.name, desc)
    if save_golden is not None:
        meta = {
            **subj.reference.identity,
            **onnx_identity(subj.onnx_path),
            "preprocessing": preprocessing_of(inputs, _crop_preprocess(subj)),
            "reference": REFERENCE,
            "inputs": desc,
            "tools": tool_versions(),
            "threads": threads,
        }
        data.golden_saved = str(Golden(x_by_batch, reference, meta).save(save_golden))
    return data


def _model_key(subj: subject.Subject) -> dict[str, Any] | None:
    """A zoo reference's stable cache identity (None: key by the Paddle files themselves)."""
    ref = subj.reference
    if ref is None or ref.kind != "zoo":
        return None

    return {
        "zoo_model": ref.name,
        "weights_sha256": ref.weights_sha256,
        "zoo_code": synthesis_code_digest(),
        "input_shape": list(ref.shape),
    }


def reference_outputs(
    paddle_dir: Any,
    x: np.ndarray,
    threads: int,
    chunk: int,
    model_key: dict[str, Any] | None = None,
    runtime: str = REFERENCE,
) -> dict[str, np.ndarray]:
    """Paddle Inference's outputs for every sample of ``x`` (in batches of ``chunk``), kept in
    p2o's cache by content: program and parameters SHA-256, inputs, Paddle version, threads.

    ``model_key`` replaces the program and parameters checksums for a zoo network exported to a
    temporary folder (the exported program's bytes differ from one export to the next): its
    name, its state's SHA-256 and the zoo code's digest say the same thing, stably.
    """
    from importlib import metadata

    if model_key is None:
        src = subject.materialize(paddle_dir)
        files = src if isinstance(src, PaddleModelFiles) else find_paddle_model(src)
        model_key = {
            "program_sha256": sha256_file(files.model_file),
            "params_sha256": sha256_file(files.params_file),
        }
    key = {
        **model_key,
        "inputs_sha256": cache.array_digest(x),
        "paddle": metadata.version("paddlepaddle"),
        "runtime": runtime,
        "threads": int(threads),
        "chunk": int(chunk),
    }

    def compute() -> dict[str, np.ndarray]:
        runner = rt.create(runtime, subject.materialize(paddle_dir), threads=threads)
        try:
            what = "Paddle reference" if runtime == REFERENCE else f"Paddle {runtime} (noise floor)"
            with progress.step(f"{what} on {len(x)} samples"):
                parts = [runner.run(x[i : i + chunk]) for i in range(0, len(x), chunk)]
        except P2OError:
            raise
        except Exception as exc:
            raise EnvironmentProblem(f"the Paddle reference failed to run: {exc}") from exc
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    return cache.get_or_compute("paddle_reference", key, compute)


def _first(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return next(iter(outputs.values()))


def _accuracy(
    labelled: Any,
    outputs: dict[str, np.ndarray],
    results: list[RuntimeResult],
    rules: acceptance.Rules,
    max_drop: float | None,
) -> tuple[list[AccuracyResult], list[RuntimeResult]]:
    """Top-1/top-5 accuracy of the reference and each engine; a drop over the gate fails
    that engine's first result (so every report shows it)."""
    import dataclasses

    ref1, ref5 = accuracy(outputs[REFERENCE], labelled.labels)
    out = []
    for name, logits in outputs.items():
        if name == REFERENCE:
            continue
        top1, top5 = accuracy(logits, labelled.labels)
        out.append(AccuracyResult(name, rules.precision_of(name), top1, top5, ref1, ref5, max_drop))
    failed = {a.runtime: a for a in out if not a.passed}
    patched = []
    for r in results:
        a = failed.pop(r.runtime, None)
        if a is not None and r.status in ("passed", "failed"):
            why = (
                f"top-1 accuracy drop {a.drop_top1:.2f} points > --max-accuracy-drop "
                f"{a.max_drop:g} on {len(labelled)} labelled images"
            )
            r = dataclasses.replace(
                r, status=Status.FAILED, reason="; ".join(p for p in (r.reason, why) if p)
            )
        patched.append(r)
    return out, patched


def _check_onnx_file(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=False)
    except Exception as exc:  # not ONNX at all, or structurally broken: the user's input
        raise UsageError(
            f"{path} is not a valid ONNX model: {str(exc).splitlines()[0][:300]}"
        ) from exc


def _run_runtime(name: str, target: Any, data: _Data, checks: _Checks) -> list[RuntimeResult]:
    """One runtime at every batch size: skipped (with why), error, or judged."""

    precision = checks.rules.engine_precision(name)
    why = _skip_reason(name, target, precision)
    if why is not None:
        return [RuntimeResult.skipped(name, why, settings={"batch": b}) for b in data.batches]
    try:
        runner = rt.create(name, target, threads=checks.threads, precision=precision)
        runner.build()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {_one_line(exc)}"
        return [RuntimeResult.error(name, reason, settings={"batch": b}) for b in data.batches]
    with progress.step(f"{name} on batch sizes {', '.join(map(str, data.batches))}"):
        results = _compare_batches(name, runner, data, checks)
    if checks.x_labelled is not None:
        try:
            checks.labelled_out[name] = _first(run_batches(runner, checks.x_labelled, 1))
        except Exception as exc:  # reported with the runtime's own results
            results.append(RuntimeResult.error(name, f"labelled images: {_one_line(exc)}"))
    return results


def _compare_batches(name: str, runner: Any, data: _Data, checks: _Checks) -> list[RuntimeResult]:
    rule = checks.rules.rule(name)
    results = []
    for b, x in data.x_by_batch.items():
        settings = {**runner.settings, "batch": b}
        t0 = time.perf_counter()
        try:
            actual = run_batches(runner, x, b)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {_one_line(exc)}"
            results.append(
                RuntimeResult.error(
                    name,
                    reason,
                    settings=settings,
                    build_seconds=runner.build_seconds,
                    seconds=round(time.perf_counter() - t0, 4),
                )
            )
            continue
        seconds = round(time.perf_counter() - t0, 4)  # this batch size's run (JUnit time)
        comparisons = (
            compare_all(data.reference[b], actual, checks.tol, checks.overrides)
            if rule is None
            else acceptance.compare_all(data.reference[b], actual, rule)
        )
        results.append(
            RuntimeResult.from_outputs(
                name,
                comparisons,
                settings=settings,
                build_seconds=runner.build_seconds,
                seconds=seconds,
            )
        )
    return results


def _skip_reason(name: str, target: Any, precision: str) -> str | None:
    """Why ``name`` does not run here (package, device, precision, no Paddle model)."""
    try:
        avail = rt.get(name).availability()
    except Exception as exc:  # a broken install is a reason to skip, not to crash
        return f"availability check failed: {type(exc).__name__}: {_one_line(exc)}"
    if not avail:
        return avail.reason
    if (why := rt.unsupported_precision(name, precision)) is not None:
        return why
    if target is None:
        return "no Paddle model here (golden reference)"
    return None


def _one_line(exc: BaseException, limit: int = 600) -> str:
    text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
    return text[:limit]


def _localize(
    net: Any, onnx_path: Path, x: np.ndarray, tol: float, notes: list[str]
) -> Divergence | None:
    import onnx

    try:
        model = onnx.load(str(onnx_path))
        if model.functions:
            from onnx.inliner import inline_local_functions

            model = inline_local_functions(model)
        return localize(net, model, x, tol)
    except Exception as exc:  # localization is a diagnosis; it must not hide the verdict
        notes.append(f"could not locate the first diverging layer: {type(exc).__name__}: {exc}")
        return None
