"""``verify``: does the ONNX artifact compute what the Paddle model computes, on each runtime?

Sources (one of):
- a zoo model alone: converted first (or an up-to-date conversion reused), Paddle reference
  from the same network;
- ``onnx_file`` + ``paddle_model``: a user's ONNX file against an exported Paddle model;
- ``onnx_file`` + a zoo model (with its weights or seed): the network is the reference;
- ``onnx_file`` + ``golden``: saved inputs and reference outputs, no Paddle needed.

Each runtime runs every batch size of the inputs; one ``RuntimeResult`` per runtime and
batch size, compared to the reference at that batch size. When a runtime fails and the
Paddle network is at hand, the first diverging layer is located.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from p2o.converter.source import PaddleModelSource, with_paddle_model
from p2o.errors import EnvironmentProblem, P2OError, UsageError
from p2o.parity import acceptance
from p2o.parity.compare import ParityReport, RuntimeResult, check_tolerance, compare_all
from p2o.parity.golden import Golden, onnx_identity, preprocessing_of
from p2o.parity.localize import Divergence
from p2o.results import AccuracyResult, Status, VerifyResult
from p2o.runtimes import registry as rt

DEFAULT_RUNTIMES = ("ort-cpu", "openvino")
DEFAULT_BATCHES = (1, 4)
DEFAULT_TOLERANCE = 1e-4
REFERENCE = "paddle"


def load_inputs(
    spec: str, shape: tuple[int, int, int] = (3, 224, 224), pp: Any = None
) -> tuple[np.ndarray, str]:
    """``samples`` (default photos), ``random[:N]``, a ``.npz``/``.npy`` file, or a folder.

    Photos are preprocessed with ``pp`` (a ``Preprocess``; the ImageNet default when None).
    """
    from p2o.zoo import inputs as zin

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


@contextlib.contextmanager
def _reference_dir(model: str | None, paddle_model: Any, net: Any) -> Iterator[Any]:
    if paddle_model is not None:
        yield paddle_model.files  # type: ignore[union-attr]
    elif net is not None:
        from p2o.converter.export import export_static

        with tempfile.TemporaryDirectory(prefix="p2o-ref-") as tmp:
            export_static(net, tmp)
            yield Path(tmp)
    else:
        yield None


def _ensure_onnx(model: str, weights: Any, seed: int, work_dir: Path | None) -> Path:
    """Reuse an up-to-date default conversion of ``model`` in the work dir, or convert."""
    from p2o.converter import convert
    from p2o.converter.manifest import Manifest, tool_versions
    from p2o.converter.pipeline import DEFAULT_OPTIONS

    out = (work_dir or Path("p2o-out")) / model
    manifest = out / "manifest.json"
    if manifest.is_file() and (out / "model.onnx").is_file():
        try:
            m = Manifest.load(manifest)
            from p2o.zoo.weights import sha256_file

            fresh = (
                m.tools == tool_versions()
                # a manifest older than an option has that option's default
                and {**DEFAULT_OPTIONS, **m.options} == DEFAULT_OPTIONS
                and m.source.get("weights")
                == (f"synthetic(seed={seed})" if weights is None else str(weights))
                and sha256_file(out / "model.onnx") == m.onnx_sha256
            )
            if fresh:
                return out / "model.onnx"
        except (OSError, ValueError, TypeError, KeyError):
            pass
    return convert(model, weights=weights, seed=seed, out_dir=out, overwrite=True).onnx_path


@with_paddle_model
def verify(
    model: str | None = None,
    *,
    onnx_file: str | Path | None = None,
    paddle_model: str | Path | PaddleModelSource | None = None,
    params: str | Path | None = None,
    inference_config: str | Path | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    golden: str | Path | None = None,
    save_golden: str | Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    output_tolerances: dict[str, float] | None = None,
    runtimes: Sequence[str] = DEFAULT_RUNTIMES,
    inputs: str = "samples",
    batches: Sequence[int] = DEFAULT_BATCHES,
    precision: str = "fp32",
    threads: int = 2,
    strict: bool = False,
    work_dir: str | Path | None = None,
    localize: bool = True,
    rule_overrides: dict[str, Any] | None = None,
    labels: str | Path | None = None,
    class_list: str | Path | None = None,
    max_accuracy_drop: float | None = None,
) -> VerifyResult:
    tol = check_tolerance(tolerance)
    runtimes = list(dict.fromkeys(runtimes))
    for name in runtimes:
        rt.get(name)
    if not runtimes:
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
    onnx_path = Path(onnx_file) if onnx_file is not None else None
    if onnx_path is not None:
        _check_onnx_file(onnx_path)
    if labels is not None and golden is not None:
        raise UsageError("--labels needs the Paddle reference; it cannot run with --golden")
    labelled = None
    if labels is not None:
        from p2o.parity.labels import load_labels

        labelled = load_labels(labels, class_list)

    notes: list[str] = []
    net = None
    shape: tuple[int, int, int] = (3, 224, 224)
    pp = None
    model_pp = None  # a zoo model's preprocessing, for crops and labelled images
    meta: dict[str, Any] = {}
    if model is not None:
        from p2o.converter.pipeline import state_sha256
        from p2o.zoo import create_model, model_info

        shape, model_pp = model_info(model).input_shape, model_info(model).preprocess
        net = create_model(model, weights=weights, seed=seed)
        meta = {
            "model": model,
            "weights": "synthetic" if weights is None else str(weights),
            "seed": seed,
            "weights_sha256": state_sha256(net),
        }
        if onnx_path is None:
            onnx_path = _ensure_onnx(model, weights, seed, Path(work_dir) if work_dir else None)
    elif paddle_model is not None:
        assert isinstance(paddle_model, PaddleModelSource)  # opened by @with_paddle_model
        shape, pp = paddle_model.input_shape, paddle_model.preprocess
        meta = paddle_model.identity()
        n = paddle_model.fixed_batch
        if n is not None and set(batches) != {n}:  # the program runs at that batch size only
            notes.append(f"the program's batch size is fixed to {n}: verified at batch {n} only")
            batches = [n]
    assert onnx_path is not None
    from p2o.converter.precision import detect

    rules = acceptance.Rules(detect(onnx_path), precision, dict(rule_overrides or {}))

    if golden is not None:
        g = Golden.load(golden)
        if (note := g.check_onnx(onnx_path)) is not None:  # refuses another file's golden
            notes.append(note)
        inputs_desc = f"golden inputs of {golden} ({g.meta.get('inputs', '?')})"
        batch_list = g.batches
        reference_out = g.outputs
        reference_name = f"golden:{g.meta.get('reference', REFERENCE)}"
        model_name = str(g.meta.get("model", Path(onnx_path).stem))
        x_by_batch = g.inputs
    else:
        if inputs == "samples" and rules.reduced(runtimes):  # agreement needs many samples
            from p2o.zoo import crops

            count = rules.samples(runtimes)
            x = crops.crop_batch("evaluation", count, pp or model_pp)
            inputs_desc = f"{count} evaluation crops of the bundled photographs"
        else:
            x, inputs_desc = load_inputs(inputs, shape, pp)
        if pp is not None:
            inputs_desc += f"; preprocessing {pp.describe()}"
        batch_list = sorted({int(b) for b in batches})
        x_by_batch = {b: np.concatenate(batched(x, b)) for b in batch_list}
        reference_name = REFERENCE
        model_name = str(meta.get("model", Path(onnx_path).stem))
        reference_out = {}

    results: list[RuntimeResult] = []
    golden_saved = None
    x_labelled = None if labelled is None else labelled.load(pp or model_pp)
    labelled_out: dict[str, np.ndarray] = {}
    with _reference_dir(model, paddle_model, net) as ref_dir:
        if golden is None:
            ref_runner = rt.create(REFERENCE, ref_dir, threads=threads)
            try:
                for b in batch_list:
                    reference_out[b] = run_batches(ref_runner, x_by_batch[b], b)
                if x_labelled is not None:
                    labelled_out[REFERENCE] = _first(run_batches(ref_runner, x_labelled, 1))
            except P2OError:
                raise
            except Exception as exc:
                raise EnvironmentProblem(f"the Paddle reference failed to run: {exc}") from exc
            if save_golden is not None:
                from p2o.converter.manifest import tool_versions

                g = Golden(
                    x_by_batch,
                    reference_out,
                    {
                        **meta,
                        **onnx_identity(onnx_path),
                        "preprocessing": preprocessing_of(inputs, pp or model_pp),
                        "reference": REFERENCE,
                        "inputs": inputs_desc,
                        "tools": tool_versions(),
                        "threads": threads,
                    },
                )
                golden_saved = str(g.save(save_golden))
        for name in runtimes:
            target = ref_dir if rt.kind(name) == "paddle" else onnx_path
            results.extend(
                _run_runtime(
                    name,
                    target,
                    x_by_batch,
                    reference_out,
                    tol,
                    output_tolerances,
                    rules.engine_precision(name),
                    threads,
                    rules.rule(name),
                    x_labelled,
                    labelled_out,
                )
            )
    accuracy: list[AccuracyResult] = []
    if labelled is not None:
        accuracy, results = _accuracy(labelled, labelled_out, results, rules, max_accuracy_drop)

    report = ParityReport(
        model_name, tol, reference_name, results, strict, dict(output_tolerances or {})
    )
    divergence = None
    if (
        not report.passed
        and localize
        and not rules.reduced(runtimes)  # layer by layer at fp32 tolerance: meaningless
        and net is not None
        and any(r.status == "failed" for r in results)
    ):
        divergence = _localize(net, onnx_path, x_by_batch[batch_list[0]][:1], tol, notes)
    return VerifyResult(
        report,
        str(onnx_path),
        inputs_desc,
        batch_list,
        divergence,
        golden_saved,
        notes,
        precision=rules.to_dict(runtimes),
        accuracy=accuracy,
        labels=None if labelled is None else labelled.source,
    )


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

    from p2o.parity.labels import accuracy

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


def _run_runtime(
    name: str,
    target: Path | None,
    x_by_batch: dict[int, np.ndarray],
    reference: dict[int, dict[str, np.ndarray]],
    tol: float,
    overrides: dict[str, float] | None,
    precision: str,
    threads: int,
    rule: acceptance.AgreementRule | None = None,
    x_labelled: np.ndarray | None = None,
    labelled_out: dict[str, np.ndarray] | None = None,
) -> list[RuntimeResult]:
    cls = rt.get(name)
    avail = cls.availability()
    if not avail:
        return [
            RuntimeResult.skipped(name, avail.reason, settings={"batch": b}) for b in x_by_batch
        ]
    if target is None:
        return [
            RuntimeResult.skipped(
                name, "no Paddle model here (golden reference)", settings={"batch": b}
            )
            for b in x_by_batch
        ]
    if precision not in rt.precisions(name):
        why = f"{name} has no {precision} (it runs {', '.join(rt.precisions(name))})"
        return [RuntimeResult.skipped(name, why, settings={"batch": b}) for b in x_by_batch]
    results = []
    try:
        runner = cls(target, threads=threads, precision=precision)
        runner.build()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {_one_line(exc)}"
        return [RuntimeResult.error(name, reason, settings={"batch": b}) for b in x_by_batch]
    for b, x in x_by_batch.items():
        settings = {**runner.settings, "batch": b}
        t0 = time.perf_counter()
        try:
            actual = run_batches(runner, x, b)
        except Exception as exc:
            msg = _one_line(exc)
            results.append(
                RuntimeResult.error(
                    name,
                    f"{type(exc).__name__}: {msg}",
                    settings=settings,
                    build_seconds=runner.build_seconds,
                    seconds=round(time.perf_counter() - t0, 4),
                )
            )
            continue
        seconds = round(time.perf_counter() - t0, 4)  # this batch size's run (JUnit time)
        comparisons = (
            compare_all(reference[b], actual, tol, overrides)
            if rule is None
            else acceptance.compare_all(reference[b], actual, rule)
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
    if x_labelled is not None and labelled_out is not None:
        try:
            labelled_out[name] = _first(run_batches(runner, x_labelled, 1))
        except Exception as exc:  # reported with the runtime's own results
            results.append(RuntimeResult.error(name, f"labelled images: {_one_line(exc)}"))
    return results


def _one_line(exc: BaseException, limit: int = 600) -> str:
    text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
    return text[:limit]


def _localize(
    net: Any, onnx_path: Path, x: np.ndarray, tol: float, notes: list[str]
) -> Divergence | None:
    import onnx

    from p2o.parity.localize import localize

    try:
        model = onnx.load(str(onnx_path))
        if model.functions:
            from onnx.inliner import inline_local_functions

            model = inline_local_functions(model)
        return localize(net, model, x, tol)
    except Exception as exc:  # localization is a diagnosis; it must not hide the verdict
        notes.append(f"could not locate the first diverging layer: {type(exc).__name__}: {exc}")
        return None
