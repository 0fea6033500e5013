"""Which model, which weights, which ONNX file, which reference: resolved once, by content.

``verify``, ``bench`` and ``release`` all ask the same questions before they measure
anything, and answer them here:

- **the reference** (``Reference``): a zoo network with its weights (``--model``, keyed by
  the SHA-256 of its state: names, dtypes, shapes and bytes), or an exported Paddle model
  (``--paddle-model``: a folder, a program file or an archive, opened by
  ``converter.source``; keyed by the SHA-256 of its parameters file);
- **the ONNX file**: the one given, or p2o's default conversion of the zoo model in the work
  directory, reused only when its manifest names the same weights *content* (a changed
  weights file at the same path is converted again), the same tools and default options,
  and the file still has the checksum the manifest recorded;
- **is it the reference's ONNX file?** (``check_identity``): p2o writes what a file is a
  conversion of into its ``metadata_props`` (``p2o.model``, ``p2o.weights_sha256``, ...;
  ``converter.pipeline.identity``); a file without them may have a ``manifest.json`` beside
  it that describes it (same SHA-256). When that identity names another model or other
  weights than the reference, the comparison would prove nothing: a ``UsageError`` (exit 2)
  in one line naming both. A foreign ONNX file (no identity) is not checked.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2o.converter import ConvertOptions, convert
from p2o.converter.export import export_static, state_sha256
from p2o.converter.manifest import Manifest, read_identity
from p2o.converter.pipeline import DEFAULT_OPTIONS
from p2o.core import optional
from p2o.core.errors import UsageError
from p2o.core.files import temporary_folder
from p2o.core.hashing import arrays_sha256, sha256_file
from p2o.core.versions import tool_versions
from p2o.zoo import create_model, model_info
from p2o.zoo.weights import cached_synthetic_state

if TYPE_CHECKING:
    from p2o.converter.source import PaddleModelSource

MANIFEST = "manifest.json"


@dataclass
class Reference:
    """The Paddle side: what an ONNX file is compared with (or timed against)."""

    kind: str  # "zoo" or "paddle-model"
    name: str
    shape: tuple[int, int, int]
    identity: dict[str, Any]  # model, weights, weights_sha256 (+ seed for the zoo)
    paddle_model: Any = None  # the located PaddleModelFiles (paddle-model)
    source: Any = None  # the opened PaddleModelSource (paddle-model)
    preprocess: Any = None  # how images become inputs (None: the ImageNet default)
    build_net: Callable[[], Any] | None = None  # the zoo network, built on first use of net
    _net: Any = None

    @property
    def net(self) -> Any:
        """The dygraph network (zoo): localizer, reference export; built when first asked."""
        if self._net is None and self.build_net is not None:
            self._net = self.build_net()
        return self._net

    @property
    def weights_sha256(self) -> str:
        return str(self.identity.get("weights_sha256", ""))


def weights_desc(weights: str | Path | None, seed: int) -> str:
    if weights is None:
        return f"synthetic(seed={seed})"
    return "pretrained" if str(weights) == "pretrained" else str(weights)


def zoo_reference(model: str, weights: str | Path | None = None, seed: int = 0) -> Reference:
    """The zoo network ``model`` with its weights. Synthetic weights that p2o's cache holds
    give the identity without building the network (nor importing Paddle): a repeat whose
    Paddle outputs are cached never needs it; it is built when first used."""

    info = model_info(model)
    # (without Paddle, building says what to install: a zoo reference runs Paddle if need be)
    lazy = weights is None and optional.installed("paddle")
    state = cached_synthetic_state(info.architecture, seed) if lazy else None
    if state is None:
        net = create_model(info.name, weights=weights, seed=seed)
        sha, build = state_sha256(net), None
    else:
        net, sha = None, arrays_sha256(state.items())
        build = functools.partial(create_model, info.name, seed=seed)
    identity = {
        "kind": "zoo",
        "model": info.name,
        "weights": weights_desc(weights, seed),
        "seed": seed,
        "weights_sha256": sha,
    }
    return Reference("zoo", info.name, info.input_shape, identity, build_net=build, _net=net)


def paddle_reference(src: PaddleModelSource) -> Reference:
    """An exported Paddle model, opened by ``converter.source`` (a folder, a program file with
    its parameters, or an unpacked archive): its parameters file is the weights."""
    identity = {
        "kind": "paddle-model",
        **src.identity(),
        "weights": src.shown(src.params_file),
    }
    return Reference(
        "paddle-model",
        src.name,
        src.input_shape,
        identity,
        paddle_model=src.files,
        source=src,
        preprocess=src.preprocess,
    )


def resolve_reference(
    model: str | None,
    paddle_model: PaddleModelSource | None,
    weights: str | Path | None = None,
    seed: int = 0,
) -> Reference | None:
    if model is not None and paddle_model is not None:
        raise UsageError("give either --model or --paddle-model as the reference, not both")
    if model is not None:
        return zoo_reference(model, weights, seed)
    if paddle_model is not None:
        return paddle_reference(paddle_model)
    return None


class ExportOnUse:
    """A zoo network's Paddle model, exported to a temporary folder only when first used: a
    repeat whose Paddle outputs come from the cache never exports (a few seconds saved)."""

    def __init__(self, ref: Reference, tmp: str) -> None:
        self._ref, self._dir, self._done = ref, Path(tmp), False

    def path(self) -> Path:
        if not self._done:
            export_static(self._ref.net, self._dir, self._ref.shape)
            self._done = True
        return self._dir


def materialize(ref_dir: Any) -> Any:
    """What a Paddle runner takes: ``ref_dir`` itself, or the folder an ``ExportOnUse`` exports."""
    return ref_dir.path() if isinstance(ref_dir, ExportOnUse) else ref_dir


@contextlib.contextmanager
def paddle_dir(ref: Reference | None) -> Iterator[Any]:
    """The reference as a Paddle model (pass it through ``materialize`` before a Paddle runner
    takes it): the located files of the one given, or the zoo net exported on first use to a
    temporary directory removed afterwards."""
    if ref is None:
        yield None
    elif ref.paddle_model is not None:
        yield ref.paddle_model
    else:
        with temporary_folder("p2o-ref-") as tmp:
            yield ExportOnUse(ref, tmp)


# --------------------------------------------------------------------------- the ONNX file


def _fresh(out: Path, ref: Reference) -> bool:
    """Whether ``out`` holds p2o's default conversion of exactly this reference."""

    try:
        m = Manifest.load(out / MANIFEST)
        return (
            m.model == ref.name
            and m.source.get("kind") == "zoo"
            and m.source.get("weights_sha256") == ref.weights_sha256  # content, not path
            and m.tools == tool_versions()
            # a manifest older than an option has that option's default
            and {**DEFAULT_OPTIONS, **m.options} == DEFAULT_OPTIONS
            and sha256_file(out / "model.onnx") == m.onnx_sha256
        )
    except (OSError, ValueError, TypeError, KeyError):
        return False


def ensure_onnx(
    ref: Reference, weights: str | Path | None, seed: int, work_dir: str | Path | None
) -> Path:
    """Reuse an up-to-date default conversion of the zoo reference in the work dir, or convert."""

    out = Path(work_dir or "p2o-out") / ref.name
    if (out / "model.onnx").is_file() and _fresh(out, ref):
        return out / "model.onnx"
    return convert(
        ConvertOptions(ref.name, weights=weights, seed=seed, out_dir=out, overwrite=True)
    ).onnx_path


def claimed_identity(onnx_path: str | Path) -> dict[str, str]:
    """What ``onnx_path`` says it is a conversion of: its ``p2o.*`` metadata, else the
    ``manifest.json`` beside it when that manifest describes this very file; {} if neither."""
    import onnx

    path = Path(onnx_path)
    try:
        found = read_identity(onnx.load(str(path), load_external_data=False))
    except Exception:  # unreadable here: the ONNX check reports it
        found = {}
    if found:
        return {k.removeprefix("p2o."): v for k, v in found.items()}
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
        if data.get("onnx_sha256") != sha256_file(path):
            return {}  # a manifest of another file
        source = data.get("source", {})
        return {
            "model": str(data.get("model", "")),
            "source_kind": str(source.get("kind", "")),
            "weights": str(source.get("weights", "")),
            "weights_sha256": str(source.get("weights_sha256", "")),
            "from": MANIFEST,
        }
    except (OSError, ValueError, AttributeError):
        return {}


def identity_mismatch(ref: Reference, claimed: dict[str, str]) -> str | None:
    """One line saying how the ONNX file's identity and the reference differ, or None."""
    if not claimed:
        return None
    kind = claimed.get("source_kind") or "zoo"
    if kind != ref.kind:
        return None  # a zoo conversion against an exported dir: nothing comparable by name
    name, sha = claimed.get("model", ""), claimed.get("weights_sha256", "")
    if ref.kind == "zoo" and name and name != ref.name:
        what = "model"
    elif sha and ref.weights_sha256 and sha != ref.weights_sha256:
        what = "weights"
    else:
        return None
    where = " (its manifest.json)" if claimed.get("from") == MANIFEST else ""
    return (
        f"the ONNX file{where} is a conversion of {name or '?'} with weights "
        f"{claimed.get('weights', '?')} (sha256 {sha[:12]}), but the reference is {ref.name} "
        f"with weights {ref.identity.get('weights', '?')} (sha256 {ref.weights_sha256[:12]}): "
        f"different {what}; give the reference it was converted from, or this model's ONNX file"
    )


def check_identity(ref: Reference | None, onnx_path: str | Path) -> None:
    """UsageError (exit 2) when the ONNX file names another model or weights than ``ref``."""
    if ref is None:
        return
    why = identity_mismatch(ref, claimed_identity(onnx_path))
    if why is not None:
        raise UsageError(why)


@dataclass
class Subject:
    """Everything a stage needs to know about what it measures."""

    reference: Reference | None
    onnx_path: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.reference is not None:
            return self.reference.name
        return "" if self.onnx_path is None else self.onnx_path.stem

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, 224, 224) if self.reference is None else self.reference.shape


def resolve(
    model: str | None = None,
    *,
    onnx_file: str | Path | None = None,
    paddle_model: PaddleModelSource | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    work_dir: str | Path | None = None,
    convert: bool = True,
) -> Subject:
    """The reference, and the ONNX file (given, or converted/reused when ``convert``),
    checked to be a conversion of that reference. ``paddle_model`` is already opened
    (``converter.source.with_paddle_model`` on the caller)."""
    if onnx_file is not None and not Path(onnx_file).is_file():
        raise UsageError(f"ONNX file not found: {onnx_file}")
    ref = resolve_reference(model, paddle_model, weights, seed)
    onnx_path = Path(onnx_file) if onnx_file is not None else None
    if onnx_path is not None:
        check_identity(ref, onnx_path)
    elif convert and ref is not None and ref.kind == "zoo":
        onnx_path = ensure_onnx(ref, weights, seed, work_dir)
    return Subject(ref, onnx_path)


def of(options: Any, convert: bool = True) -> Subject:
    """``resolve`` for verify's or bench's options (a ``ModelSource`` with ``onnx_file`` and
    ``work_dir``; its ``paddle_model`` already opened)."""
    return resolve(
        options.model,
        onnx_file=options.onnx_file,
        paddle_model=options.paddle_model,
        weights=options.weights,
        seed=options.seed,
        work_dir=options.work_dir,
        convert=convert,
    )
