"""Parity inputs: real photographs (scikit-image's bundled ones or a user folder), seeded noise.

Preprocessing follows PaddleClas's eval pipeline: resize the short side to 256 (bilinear),
center-crop 224, scale to [0, 1], subtract the ImageNet mean, divide by the std, HWC → CHW;
a model's own PaddleClas ``inference.yml`` can change each step (``paddleclas_config``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from p2o.core import cache
from p2o.core.errors import UsageError
from p2o.zoo.digest import synthesis_code_digest
from p2o.zoo.registry import Preprocess

# Photographs shipped inside the scikit-image wheel (no download): name → loader attribute.
SAMPLE_IMAGES: tuple[str, ...] = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
)
# A second, disjoint set for BatchNorm calibration of synthetic weights (one crop each:
# centred, or mirrored off-centre; see calibration_batch).
CALIBRATION_IMAGES: tuple[str, ...] = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "coins",
    "moon",
    "clock",
    "grass",
    "gravel",
    "cell",
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.shape[-1] == 4:
        img = img[..., :3]
    return img


def skimage_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs as uint8 RGB, HWC."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise UsageError(f"scikit-image has no sample image {name!r}")
    return _to_rgb(np.asarray(loader()))


def resize_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with half-pixel centers (cv2.INTER_LINEAR's convention), float32."""
    src = img.astype(np.float32)
    h, w = src.shape[:2]

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(height, h)
    x0, x1, fx = axis(width, w)
    top = src[y0][:, x0] * (1 - fx)[None, :, None] + src[y0][:, x1] * fx[None, :, None]
    bot = src[y1][:, x0] * (1 - fx)[None, :, None] + src[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def preprocess(img: np.ndarray, pp: Preprocess | None = None) -> np.ndarray:
    """uint8 RGB HWC image → float32 CHW tensor, PaddleClas eval preprocessing."""
    pp = pp or Preprocess()
    img = _to_rgb(img)
    h, w = img.shape[:2]
    ch, cw = pp.size_hw
    if pp.resize is not None:
        nh, nw = pp.resize[1], pp.resize[0]
    elif pp.resize_short is not None:
        scale = pp.resize_short / min(h, w)
        nh, nw = round(h * scale), round(w * scale)
    else:
        nh, nw = h, w
    nh, nw = max(ch, nh), max(cw, nw)
    resized = resize_bilinear(img, nh, nw)
    top, left = (nh - ch) // 2, (nw - cw) // 2
    crop = resized[top : top + ch, left : left + cw]
    mean = np.asarray(pp.mean, np.float32)
    std = np.asarray(pp.std, np.float32)
    out = (crop * np.float32(pp.scale) - mean) / std
    if pp.channels > 3:  # PaddleClas pads with zero channels
        out = np.concatenate([out, np.zeros((ch, cw, pp.channels - 3), np.float32)], axis=-1)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def sample_batch(count: int | None = None, pp: Preprocess | None = None) -> np.ndarray:
    """The default parity inputs: scikit-image's photographs, preprocessed ([N, 3, 224, 224]).

    Kept in p2o's cache (key: the photographs, the preprocessing, the zoo code's digest and
    scikit-image's version), so a repeat neither imports scikit-image nor decodes them.
    """
    from importlib import metadata

    names = SAMPLE_IMAGES[: count or len(SAMPLE_IMAGES)]
    key = {
        "photos": list(names),
        "preprocess": dataclasses.asdict(pp or Preprocess()),
        "code": synthesis_code_digest(),
        "skimage": metadata.version("scikit-image"),
    }
    return cache.get_or_compute(
        "sample_inputs", key, lambda: np.stack([preprocess(skimage_photo(n), pp) for n in names])
    )


def calibration_batch(pp: Preprocess | None = None) -> np.ndarray:
    """Real-image crops used to calibrate synthetic BatchNorm statistics, [12, 3, 224, 224].

    One crop per photograph: the centre crop of the even ones, a mirrored off-centre crop at
    a tighter scale of the odd ones (twelve scenes, as many as the 24-crop set of before, at
    half its calibration cost: the pass dominates building a synthetic network).
    """
    pp = pp or Preprocess()
    crops = []
    for i, n in enumerate(CALIBRATION_IMAGES):
        img = skimage_photo(n)
        if i % 2 == 0:
            crops.append(preprocess(img, pp))
            continue
        h, w = img.shape[:2]
        side = min(h, w)
        sub = img[h - side :, w - side :][:, ::-1]
        crops.append(preprocess(np.ascontiguousarray(sub[: side * 7 // 8, : side * 7 // 8]), pp))
    return np.stack(crops)


def folder_batch(folder: str | Path, pp: Preprocess | None = None) -> np.ndarray:
    """Every image file of a folder (sorted by name), preprocessed."""
    import skimage.io

    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"input folder not found: {path}")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    out = []
    for f in files:
        try:
            out.append(preprocess(np.asarray(skimage.io.imread(f)), pp))
        except Exception as exc:  # unreadable or corrupt image
            raise UsageError(f"cannot read image {f}: {exc}") from exc
    return np.stack(out)


def random_batch(
    count: int, seed: int = 0, shape: tuple[int, int, int] = (3, 224, 224)
) -> np.ndarray:
    """Seeded standard-normal tensors (what preprocessed images look like, statistically)."""
    return np.random.default_rng(seed).standard_normal((count, *shape), dtype=np.float32)
