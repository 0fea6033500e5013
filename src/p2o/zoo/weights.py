"""Weights: strict loading, official download into a cache, and trained-like synthesis.

Synthetic weights must behave like trained ones, or every later parity figure is
meaningless: finite, logits with a spread like a trained classifier's, a top-1 that
changes with the image, and BatchNorm statistics that match the data flowing through the
network, with no channel so degenerate that it amplifies rounding noise.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

import p2o
from p2o.core import cache, progress
from p2o.core.errors import EnvironmentProblem, UsageError, WeightsError
from p2o.core.hashing import sha256_file
from p2o.zoo.digest import synthesis_code_digest
from p2o.zoo.inputs import calibration_batch
from p2o.zoo.registry import model_info

# Synthesis knobs (documented in docs/zoo.md).
BRANCH_GAMMA = 0.2  # gamma of the last BatchNorm of every residual branch
TARGET_LOGIT_STD = 3.0  # classifier scaled so that logits have this std on the calibration set
VARIANCE_FLOOR = 0.05  # a channel's variance is at least this fraction of its layer's median


# --------------------------------------------------------------------------- loading


def read_pdparams(path: str | Path) -> dict[str, Any]:
    """A ``.pdparams`` file as a dict of numpy arrays; UsageError if it is not one."""
    import paddle

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"weights file not found: {p}")
    try:
        state = paddle.load(str(p), return_numpy=True)
    except Exception as exc:
        raise UsageError(f"cannot read {p} as a Paddle .pdparams file: {exc}") from exc
    if not isinstance(state, dict) or not state:
        raise UsageError(f"{p} holds no state dict")
    return {k: np.asarray(v) for k, v in state.items()}


def load_strict(model: Any, state: dict[str, Any], source: str = "weights") -> None:
    """Load ``state`` into ``model``; any missing, unexpected or mis-shaped key is an error."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    shapes = [
        f"{k} {list(np.shape(state[k]))} (network wants {list(ours[k].shape)})"
        for k in ours
        if k in state and list(np.shape(state[k])) != list(ours[k].shape)
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if keys:
            more = f" … and {len(keys) - 5} more" if len(keys) > 5 else ""
            problems.append(f"{len(keys)} {label} key(s): {', '.join(keys[:5])}{more}")
    if problems:
        raise WeightsError(f"{source} does not fit the network: " + "; ".join(problems))
    for k, tensor in ours.items():
        tensor.set_value(np.asarray(state[k]).astype(str(tensor.dtype).replace("paddle.", "")))


# --------------------------------------------------------------------------- download


def cache_dir() -> Path:
    """Where downloaded weights live: p2o's cache root (``$P2O_CACHE_DIR``, see p2o.core.cache)."""

    return cache.root()


def weights_url(name: str) -> str:
    """The official URL of ``name``'s weights; ``$P2O_WEIGHTS_BASE_URL`` replaces the host."""

    url = model_info(name).weights_url
    base = os.environ.get("P2O_WEIGHTS_BASE_URL")
    if base:
        url = base.rstrip("/") + "/" + url.rsplit("/", 1)[1]
    return url


def download_pretrained(name: str, timeout: float = 30.0) -> Path:
    """Fetch the official weights of ``name`` into the cache (atomic), or reuse them.

    Next to the file, ``<file>.json`` records the URL, size and sha256; a cached file whose
    checksum no longer matches is fetched again.
    """
    url = weights_url(name)
    target = cache_dir() / "pretrained" / url.rsplit("/", 1)[1]
    record = target.with_name(target.name + ".json")
    if target.is_file() and record.is_file():
        try:
            meta = json.loads(record.read_text())
            if meta.get("sha256") == sha256_file(target):
                return target
        except (OSError, ValueError):
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
        if expected is not None and int(expected) != size:
            raise EnvironmentProblem(f"download of {url} ended early ({size} of {expected} bytes)")
        os.replace(tmp_name, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise EnvironmentProblem(
            f"cannot download the official weights of {name} from {url} ({exc}); "
            "offline, pass --weights PATH to a local .pdparams file"
        ) from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    meta = {"name": name, "url": url, "size": size, "sha256": h.hexdigest()}
    tmp_record = record.with_name(record.name + ".part")
    tmp_record.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp_record, record)
    return target


# --------------------------------------------------------------------------- synthesis


def _classifier(model: Any) -> Any:
    """The classifier: the last Linear, else the last 1x1 convolution (ReXNet's head).

    (Not the last key of the state dict: RedNet registers its stem after ``fc``.)
    """
    from paddle import nn

    layers = model.sublayers()
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    if linears:
        return linears[-1]
    convs = [m for m in layers if isinstance(m, nn.Conv2D) and list(m.weight.shape[2:]) == [1, 1]]
    return convs[-1]


def _center_classifier(fc: Any) -> None:
    """Centre each class's weights over the input features.

    The pooled features are post-ReLU: their mean is a large, nearly uniform positive
    vector that changes mostly in scale from image to image. Random classifier columns see
    it, and in deep networks it decides the top-1 of every image; a trained classifier is
    nearly blind to it.
    """
    w = fc.weight.numpy()
    axis = 0 if w.ndim == 2 else 1  # Linear [in, out]; 1x1 Conv [out, in, 1, 1]
    fc.weight.set_value(w - w.mean(axis=axis, keepdims=True))


def _init_params(model: Any, rng: np.random.Generator) -> None:
    from paddle import nn

    for layer in model.sublayers(include_self=True):
        if isinstance(layer, nn.Conv2D):
            w = layer.weight
            fan_in = int(np.prod(w.shape[1:]))
            w.set_value(rng.normal(0.0, np.sqrt(2.0 / fan_in), w.shape).astype("float32"))
            if layer.bias is not None:
                layer.bias.set_value(np.zeros(layer.bias.shape, "float32"))
        elif isinstance(layer, nn.Linear):
            w = layer.weight  # Paddle's Linear weight is [in, out]
            w.set_value(rng.normal(0.0, np.sqrt(1.0 / w.shape[0]), w.shape).astype("float32"))
            if layer.bias is not None:
                layer.bias.set_value(np.zeros(layer.bias.shape, "float32"))
        elif isinstance(layer, nn.layer.norm._BatchNormBase):
            bn: Any = layer
            n = bn.weight.shape[0]
            bn.weight.set_value(rng.uniform(0.8, 1.2, n).astype("float32"))
            bn.bias.set_value(rng.normal(0.0, 0.1, n).astype("float32"))
            bn._mean.set_value(np.zeros(n, "float32"))
            bn._variance.set_value(np.ones(n, "float32"))


def calibrate_batchnorm(model: Any, images: np.ndarray) -> np.ndarray:
    """Set every BatchNorm's statistics to those of the data reaching it, in one eval pass.

    A forward pre-hook measures each BatchNorm's input (float64) and writes mean and
    variance before the layer runs, so each layer sees upstream layers already calibrated.
    Variances are floored at ``VARIANCE_FLOOR`` × the layer's median, so no dead or
    near-constant channel divides by ~0 and amplifies rounding noise.
    """
    import paddle
    from paddle import nn

    def hook(layer: Any, inputs: tuple[Any, ...]) -> None:
        x = inputs[0].numpy().astype(np.float64)
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        floor = VARIANCE_FLOOR * float(np.median(var)) + 1e-6
        layer._mean.set_value(mean.astype("float32"))
        layer._variance.set_value(np.maximum(var, floor).astype("float32"))

    handles = [
        layer.register_forward_pre_hook(hook)  # type: ignore[arg-type]
        for layer in model.sublayers()
        if isinstance(layer, nn.layer.norm._BatchNormBase)
    ]
    try:
        model.eval()
        with paddle.no_grad():
            return model(paddle.to_tensor(images)).numpy()
    finally:
        for h in handles:
            h.remove()


def synthesize(model: Any, seed: int = 0, images: np.ndarray | None = None) -> None:
    """Give ``model`` deterministic, trained-like synthetic weights from ``seed``.

    He-normal convolutions; BatchNorm affine near identity, with the last BatchNorm of every
    residual branch damped to ``BRANCH_GAMMA`` (depth then adds signal slowly, as in a
    trained network); the family's own ``synthetic_tweaks``; a classifier centred over its
    input features (blind to their common mean, as trained ones are); BatchNorm statistics
    calibrated on real photographs; the classifier scaled so that logits have a std of
    ``TARGET_LOGIT_STD``.
    """

    rng = np.random.default_rng(seed)
    _init_params(model, rng)
    for bn in model.residual_branch_norms():
        bn.weight.set_value(bn.weight.numpy() * np.float32(BRANCH_GAMMA))
    if hasattr(model, "synthetic_tweaks"):
        model.synthetic_tweaks(rng)
    _center_classifier(_classifier(model))
    images = calibration_batch() if images is None else images
    logits = calibrate_batchnorm(model, images).astype(np.float64)
    std = float(logits.std(axis=1).mean())
    if not np.isfinite(std) or std == 0.0:
        raise RuntimeError(f"synthetic weights (seed {seed}) give degenerate logits (std {std})")
    fc = _classifier(model)
    fc.weight.set_value(fc.weight.numpy() * np.float32(TARGET_LOGIT_STD / std))
    model.eval()


def _synthetic_key(architecture: str, seed: int) -> dict[str, Any]:
    """Architecture, seed, p2o version, the zoo code's digest, Paddle and scikit-image
    versions (the calibration runs Paddle on scikit-image's photographs), read without
    importing either."""
    from importlib import metadata

    return {
        "architecture": architecture,
        "seed": seed,
        "p2o": p2o.__version__,  # read at call time (a test stands in another version)
        "code": synthesis_code_digest(),
        "paddle": metadata.version("paddlepaddle"),
        "skimage": metadata.version("scikit-image"),
    }


def cached_synthetic_state(architecture: str, seed: int = 0) -> dict[str, np.ndarray] | None:
    """The state ``synthetic_state`` would give, if p2o's cache holds it (else None)."""

    return cache.lookup("synthetic_weights", _synthetic_key(architecture, seed))


def synthetic_state(model: Any, architecture: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The state dict ``synthesize(model, seed)`` gives, from p2o's cache when it holds it
    (key: ``_synthetic_key``). ``model`` is left with those weights either way."""

    def compute() -> dict[str, np.ndarray]:
        with progress.step(f"synthesize weights of {architecture}"):
            synthesize(model, seed=seed)
        return {k: v.numpy() for k, v in model.state_dict().items()}

    key = _synthetic_key(architecture, seed)
    state = cache.get_or_compute("synthetic_weights", key, compute)
    load_strict(model, state, source=f"synthetic weights of {architecture}")
    return state
