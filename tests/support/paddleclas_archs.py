"""PaddleClas's own architectures, for tests and benchmarks: a matrix of real networks.

The networks come from PaddleClas's code as published in its wheel (``paddleclas==2.6.0``),
never vendored into this repository and never pip-installed into p2o's environment: the wheel
(a zip) is unpacked into a cache folder and only its backbone model files are imported, under a
private package name (``_p2o_ppcls``) whose parent packages are empty stand-ins, so neither
``ppcls/__init__.py`` nor ``ppcls/arch/__init__.py`` (which import data loaders, losses,
optimizers) nor ``ppcls/utils/save_load.py`` (which downloads) ever runs.

Where the wheel comes from: ``$P2O_PADDLECLAS_WHEEL`` (the ``.whl`` file), else
``default_wheel()`` (``~/.cache/p2o/paddleclas/paddleclas-2.6.0-py3-none-any.whl`` on Linux).
Nothing here downloads: ``nox -s tests`` and ``nox -s byom`` fetch it with ``pip download
--no-deps paddleclas==2.6.0``; tests skip with ``missing_reason()`` without it.

Weights: p2o's zoo synthesis (``p2o.zoo.weights.synthesize``): seeded fan-in-scaled
convolutions and linears, BatchNorm statistics calibrated on crops of the bundled photographs
(``p2o.zoo.inputs.calibration_batch``), the classifier centred and scaled to a logit std of 3.
``conditioning="noise"`` calibrates on seeded standard-normal images instead (close to how
issue 25 first built them: some networks are then as ill-conditioned as a half-trained model).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import types
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PADDLECLAS_VERSION = "2.6.0"
WHEEL_NAME = f"paddleclas-{PADDLECLAS_VERSION}-py3-none-any.whl"
WHEEL_ENV = "P2O_PADDLECLAS_WHEEL"
PACKAGE = "_p2o_ppcls"  # the private name PaddleClas's ``ppcls`` is imported under
INPUT_SHAPE = (3, 224, 224)
BUILD_VERSION = 1  # bump when ``build`` or ``export`` changes what they produce (export keys)

PLAIN, MOBILE, MULTI_BRANCH, TRANSFORMER = "plain CNN", "mobile", "multi-branch", "transformer"


@dataclass(frozen=True)
class Arch:
    """One PaddleClas architecture: its builder ``name`` in backbone module ``module``."""

    name: str
    module: str  # under ppcls/arch/backbone/, dotted
    kind: str
    quick: bool = False  # cheap enough (< ~30 s export + convert + verify) for the default tests
    first_output: bool = False  # returns [logits, aux...]: exported with the first only


ARCHS: tuple[Arch, ...] = (
    # plain CNNs
    Arch("ResNet50_vd", "legendary_models.resnet", PLAIN),
    Arch("ResNet18_vd", "legendary_models.resnet", PLAIN, quick=True),
    Arch("DenseNet121", "model_zoo.densenet", PLAIN),
    Arch("SqueezeNet1_1", "model_zoo.squeezenet", PLAIN, quick=True),
    Arch("RepVGG_A0", "model_zoo.repvgg", PLAIN),
    # mobile nets: SE, hard-swish, channel shuffle, depthwise, ghost modules, swish
    Arch("MobileNetV3_large_x1_0", "legendary_models.mobilenet_v3", MOBILE),
    Arch("MobileNetV3_small_x1_0", "legendary_models.mobilenet_v3", MOBILE),
    Arch("PPLCNet_x1_0", "legendary_models.pp_lcnet", MOBILE, quick=True),
    Arch("PPLCNetV2_base", "legendary_models.pp_lcnet_v2", MOBILE),
    Arch("ShuffleNetV2_x1_0", "model_zoo.shufflenet_v2", MOBILE, quick=True),
    Arch("GhostNet_x1_0", "model_zoo.ghostnet", MOBILE),
    Arch("MobileNetV2", "model_zoo.mobilenet_v2", MOBILE),
    Arch("MobileNetV1", "legendary_models.mobilenet_v1", MOBILE),
    Arch("EfficientNetB0", "model_zoo.efficientnet", MOBILE),
    Arch("ESNet_x1_0", "legendary_models.esnet", MOBILE),
    # multi-branch
    Arch("DLA34", "model_zoo.dla", MULTI_BRANCH),
    Arch("HRNet_W18_C", "legendary_models.hrnet", MULTI_BRANCH),
    Arch("GoogLeNet", "model_zoo.googlenet", MULTI_BRANCH, first_output=True),
    Arch("InceptionV3", "legendary_models.inception_v3", MULTI_BRANCH),
    Arch("DPN68", "model_zoo.dpn", MULTI_BRANCH),
    # transformers: patch embedding, (window) attention; and their convolutional cousins
    Arch("ViT_small_patch16_224", "model_zoo.vision_transformer", TRANSFORMER),
    Arch(
        "DeiT_tiny_patch16_224", "model_zoo.distilled_vision_transformer", TRANSFORMER, quick=True
    ),
    Arch(
        "SwinTransformer_tiny_patch4_window7_224", "legendary_models.swin_transformer", TRANSFORMER
    ),
    Arch("PVT_V2_B0", "model_zoo.pvt_v2", TRANSFORMER),
    Arch("PPHGNetV2_B0", "legendary_models.pp_hgnet_v2", TRANSFORMER),
    Arch("ConvNeXt_tiny", "model_zoo.convnext", TRANSFORMER),
)
BY_NAME = {a.name: a for a in ARCHS}


# --------------------------------------------------------------------------- the wheel


def default_wheel() -> Path:
    """Where the wheel is looked for when ``$P2O_PADDLECLAS_WHEEL`` is not set: p2o's user cache
    dir (``~/.cache/p2o/paddleclas/`` on Linux), whatever ``$P2O_CACHE_DIR`` says (the tests
    point that at a temporary folder)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("p2o", appauthor=False)) / "paddleclas" / WHEEL_NAME


def find_wheel() -> Path | None:
    """The PaddleClas wheel to build from, or None (``$P2O_PADDLECLAS_WHEEL``, else the default)."""
    given = os.environ.get(WHEEL_ENV)
    path = Path(given) if given else default_wheel()
    return path if path.is_file() else None


def missing_reason() -> str | None:
    """One line saying why the matrix can't be built here, or None when it can."""
    given = os.environ.get(WHEEL_ENV)
    if given and not Path(given).is_file():
        return f"${WHEEL_ENV}={given}: no such file"
    if find_wheel() is None:
        return (
            f"PaddleClas wheel not found (set ${WHEEL_ENV} or put it at {default_wheel()}; "
            f"`pip download --no-deps paddleclas=={PADDLECLAS_VERSION}`)"
        )
    try:
        metadata.version("paddlepaddle")
    except metadata.PackageNotFoundError:
        return "paddlepaddle is not installed"
    return None


def _sha256(path: Path) -> str:
    from p2o.core.hashing import sha256_file

    return sha256_file(path)


def unpack(wheel: Path, cache_dir: Path) -> Path:
    """The wheel's ``ppcls/arch/backbone`` files under ``cache_dir``: the folder
    that stands for ``ppcls``. Unpacked once per wheel checksum, atomically."""
    target = cache_dir / f"paddleclas-src-{_sha256(wheel)[:16]}"
    if (target / "ppcls").is_dir():
        return target / "ppcls"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".paddleclas-", dir=cache_dir))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                inner = name.removeprefix("paddleclas/")
                wanted = inner.startswith("ppcls/arch/backbone/")
                if not wanted or not name.endswith(".py") or ".." in Path(inner).parts:
                    continue
                out = tmp / inner
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(name))
        try:
            tmp.rename(target)
        except OSError:  # another process unpacked it first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target / "ppcls"


def _no_pretrained(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("p2o's PaddleClas matrix never loads pretrained weights (no downloads)")


def _stand_in(name: str, path: Path | None) -> types.ModuleType:
    mod = types.ModuleType(name)
    if path is not None:
        mod.__path__ = [str(path)]
    mod.__package__ = name
    sys.modules[name] = mod
    return mod


def _install_packages(ppcls: Path) -> None:
    """Empty stand-ins for the packages above the model files, so that their relative imports
    (``from ..base.theseus_layer import …``, ``from ....utils import logger``) resolve without
    running any ``__init__``. Two utilities are replaced: ``save_load`` (pretrained weights:
    downloads) by functions that refuse, ``logger`` (a file logger to initialise) by
    Python's ``logging``."""
    root = sys.modules.get(PACKAGE)
    if root is not None:
        paths = [Path(p) for p in getattr(root, "__path__", [])]
        # the same wheel unpacked under another cache folder (another test's): the same code,
        # keyed by its digest in the folder's name; another digest is another PaddleClas
        if [p.parent.name for p in paths] != [ppcls.parent.name] or not paths[0].is_dir():
            raise RuntimeError(f"{PACKAGE} is already imported from another PaddleClas folder")
        return
    _stand_in(PACKAGE, ppcls)
    _stand_in(f"{PACKAGE}.arch", ppcls / "arch")
    _stand_in(f"{PACKAGE}.arch.backbone", ppcls / "arch" / "backbone")
    for sub in ("legendary_models", "model_zoo", "base", "variant_models"):
        _stand_in(f"{PACKAGE}.arch.backbone.{sub}", ppcls / "arch" / "backbone" / sub)
    _stand_in(f"{PACKAGE}.utils", ppcls / "utils")
    save_load = _stand_in(f"{PACKAGE}.utils.save_load", None)
    save_load.load_dygraph_pretrain = _no_pretrained  # type: ignore[attr-defined]
    save_load.load_dygraph_pretrain_from_url = _no_pretrained  # type: ignore[attr-defined]
    logger = _stand_in(f"{PACKAGE}.utils.logger", None)
    log = logging.getLogger("paddleclas")
    for level in ("debug", "info", "warning", "error"):
        setattr(logger, level, getattr(log, level))


def builder(arch: Arch | str, wheel: Path, cache_dir: Path) -> Callable[..., Any]:
    """PaddleClas's builder function of ``arch`` (e.g. ``ResNet50_vd(class_num=1000)``)."""
    import importlib

    a = BY_NAME[arch] if isinstance(arch, str) else arch
    _install_packages(unpack(wheel, cache_dir))
    module = importlib.import_module(f"{PACKAGE}.arch.backbone.{a.module}")
    return getattr(module, a.name)


# --------------------------------------------------------------------------- weights, export


def _as_batchnorm_base(net: Any) -> list[tuple[Any, type]]:
    """View PaddleClas's ``nn.BatchNorm`` layers (the older API, activation fused) as
    ``_BatchNormBase`` for p2o's synthesis, which initialises and calibrates only those: each
    gets a class deriving from both (its own ``forward`` first). Returns what to restore."""
    from paddle import nn

    base = nn.layer.norm._BatchNormBase
    swapped = []
    for layer in net.sublayers():
        cls = type(layer)
        if isinstance(layer, nn.BatchNorm) and not isinstance(layer, base):
            layer.__class__ = type(f"_Calibrated{cls.__name__}", (cls, base), {})
            swapped.append((layer, cls))
    return swapped


def _first_output(net: Any) -> Any:
    """``net`` returning only its first output (the main head), as PaddleClas's own export
    (``ExportModel``) does for networks with auxiliary heads."""
    from paddle import nn

    class FirstOutput(nn.Layer):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            out = self.inner(x)
            return out[0] if isinstance(out, (list, tuple)) else out

    return FirstOutput(net)


def build(
    arch: Arch | str, wheel: Path, cache_dir: Path, seed: int = 0, conditioning: str = "photos"
) -> Any:
    """PaddleClas's network ``arch`` with p2o's synthetic weights (seed ``seed``), in eval mode.

    ``conditioning``: ``"photos"`` (BatchNorm statistics from the bundled photographs, as the
    zoo does) or ``"noise"`` (from 12 seeded standard-normal images).
    """
    import paddle

    from p2o.zoo import inputs, weights

    a = BY_NAME[arch] if isinstance(arch, str) else arch
    make = builder(a, wheel, cache_dir)
    paddle.seed(seed)  # PaddleClas's own initialisers (position embeddings, tokens, LayerNorm)
    with paddle.utils.unique_name.guard():  # PaddleClas names some parameters itself
        net = make(class_num=1000)
    if a.first_output:
        net = _first_output(net)
    if conditioning == "photos":
        images = None
    elif conditioning == "noise":
        images = inputs.random_batch(12, seed=seed)
    else:
        raise ValueError(f"conditioning must be 'photos' or 'noise', not {conditioning!r}")
    swapped = _as_batchnorm_base(net)
    net.residual_branch_norms = list  # no damped branches: PaddleClas's nets don't name them
    try:
        weights.synthesize(net, seed=seed, images=images)
    finally:
        del net.residual_branch_norms
        for layer, cls in swapped:
            layer.__class__ = cls
    net.eval()
    return net


def export_key(arch: Arch | str, wheel: Path, seed: int = 0, conditioning: str = "photos") -> str:
    """What an export depends on: the architecture, seed, conditioning, the wheel's checksum,
    Paddle's version, p2o's zoo code (synthesis, photographs) and ``BUILD_VERSION``."""
    from p2o.zoo.weights import synthesis_code_digest

    name = arch if isinstance(arch, str) else arch.name
    h = hashlib.sha256()
    for part in (
        name,
        str(seed),
        conditioning,
        _sha256(wheel),
        metadata.version("paddlepaddle"),
        synthesis_code_digest(),
        str(BUILD_VERSION),
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def export(
    arch: Arch | str,
    out_dir: Path,
    wheel: Path,
    cache_dir: Path,
    seed: int = 0,
    conditioning: str = "photos",
) -> Path:
    """``paddle.jit.save`` of ``arch`` (PIR, input ``x`` ``[None, 3, 224, 224]``) into
    ``out_dir`` (``inference.json`` + ``inference.pdiparams``); ``out_dir/KEY`` records the
    export key, and an export with the same key is reused. Written whole or not at all."""
    from p2o.converter.export import export_static

    key = export_key(arch, wheel, seed, conditioning)
    out = Path(out_dir)
    stamp = out / "KEY"
    if stamp.is_file() and stamp.read_text().strip() == key:
        return out
    net = build(arch, wheel, cache_dir, seed=seed, conditioning=conditioning)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        export_static(net, tmp, INPUT_SHAPE)
        (tmp / "KEY").write_text(key + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def cached_export(
    arch: Arch | str, cache_dir: Path, wheel: Path, seed: int = 0, conditioning: str = "photos"
) -> Path:
    """``export`` into ``cache_dir/exports/<ARCH>-<key>/`` (kept between runs)."""
    name = arch if isinstance(arch, str) else arch.name
    key = export_key(arch, wheel, seed, conditioning)
    return export(
        arch, cache_dir / "exports" / f"{name}-{key}", wheel, cache_dir, seed, conditioning
    )


# --------------------------------------------------------------------------- convert + verify


@dataclass
class Outcome:
    """What ``p2o convert`` and ``p2o verify --json`` said about one exported architecture."""

    arch: str
    convert_exit: int
    convert_seconds: float
    convert_error: str = ""  # convert's last stderr line when it failed
    verify_exit: int | None = None  # None: not run (convert failed)
    verify_seconds: float = 0.0
    min_tolerance: dict[str, float] | None = None  # runtime -> worst min tolerance over batches
    verify_reason: str = ""
    report: dict[str, Any] | None = None

    def first_failure(self) -> str:
        """The failure's first line ('' when both passed)."""
        if self.convert_exit != 0:
            return self.convert_error
        if self.verify_exit not in (0, None):
            return self.verify_reason.splitlines()[0] if self.verify_reason else "(no reason)"
        return ""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [""])[-1][:300]


def _tolerances(report: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in report.get("results", []):
        value = row.get("min_tolerance")
        if value is None:
            continue
        name = str(row.get("runtime"))
        out[name] = max(out.get(name, 0.0), float(value))
    return out


def convert_and_verify(arch: str, model_dir: Path, out_dir: Path, timeout: float = 1800) -> Outcome:
    """``p2o convert --paddle-model DIR -o OUT`` then ``p2o verify --onnx OUT/model.onnx
    --paddle-model DIR --json``, each in a subprocess (the CLI is the stable interface)."""
    import json
    import subprocess
    import time

    cli = [sys.executable, "-m", "p2o.cli"]
    t0 = time.perf_counter()
    conv = subprocess.run(
        [*cli, "convert", "--paddle-model", str(model_dir), "-o", str(out_dir), "--overwrite"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    outcome = Outcome(arch, conv.returncode, time.perf_counter() - t0)
    if conv.returncode != 0:
        outcome.convert_error = _last_line(conv.stderr)
        return outcome
    t0 = time.perf_counter()
    ver = subprocess.run(
        [
            *cli,
            "verify",
            "--onnx",
            str(out_dir / "model.onnx"),
            "--paddle-model",
            str(model_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    outcome.verify_exit = ver.returncode
    outcome.verify_seconds = time.perf_counter() - t0
    try:
        report = json.loads(ver.stdout)
    except ValueError:
        outcome.verify_reason = _last_line(ver.stderr) or "verify printed no JSON"
        return outcome
    outcome.report = report
    outcome.min_tolerance = _tolerances(report)
    outcome.verify_reason = str(report.get("reason") or "")
    return outcome
