"""Crops of the bundled photographs: an evaluation set and a disjoint calibration set.

Reduced-precision artifacts are calibrated on some images and judged on others. Both sets
come from one deterministic sequence of crop boxes per photograph (a fixed seed per photo
name, no global state): the boxes at even positions are evaluation crops, those at odd
positions calibration crops, so no crop is ever in both sets, and the same request gives
the same pixels on any machine. A box covers 45–100 % of the photo's short side at a random
position, mirrored half of the time; it is then preprocessed like any image (resize the short
side, center-crop, normalize).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from p2o.zoo.inputs import preprocess, skimage_photo
from p2o.zoo.registry import Preprocess

# scikit-image's bundled photographs (in the wheel, no download), natural images first
PHOTOS: tuple[str, ...] = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "cat",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
    "coins",
    "moon",
    "clock",
    "grass",
    "gravel",
    "brick",
    "cell",
)
PURPOSES = ("evaluation", "calibration")
MIN_SIDE, MAX_SIDE = 0.45, 1.0


@dataclass(frozen=True)
class Crop:
    photo: str
    top: int
    left: int
    side: int
    mirror: bool

    def key(self) -> tuple[str, int, int, int, bool]:
        return (self.photo, self.top, self.left, self.side, self.mirror)


def _boxes(photo: str, shape: tuple[int, int], count: int) -> list[Crop]:
    """The first ``count`` boxes of ``photo``'s own deterministic sequence."""
    rng = np.random.default_rng(zlib.crc32(f"p2o-crops/{photo}".encode()))
    h, w = shape
    short = min(h, w)
    out = []
    for _ in range(count):
        side = round(float(short * rng.uniform(MIN_SIDE, MAX_SIDE)))
        top = int(rng.integers(0, h - side + 1))
        left = int(rng.integers(0, w - side + 1))
        out.append(Crop(photo, top, left, side, bool(rng.integers(0, 2))))
    return out


def crop_plan(purpose: str, count: int) -> list[Crop]:
    """``count`` crops for ``purpose`` (evaluation or calibration), round-robin over photos."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if count < 1:
        raise ValueError(f"crop count must be >= 1, got {count}")
    offset = PURPOSES.index(purpose)
    per_photo = -(-count // len(PHOTOS))
    plans = {}
    for p in PHOTOS:
        shape = skimage_photo(p).shape[:2]
        plans[p] = _boxes(p, shape, 2 * per_photo)[offset::2]
    return [plans[PHOTOS[i % len(PHOTOS)]][i // len(PHOTOS)] for i in range(count)]


def render(crops: list[Crop], pp: Preprocess | None = None) -> np.ndarray:
    """The crops, preprocessed, ``[N, 3, crop, crop]`` float32."""
    photos = {c.photo: skimage_photo(c.photo) for c in crops}
    out = []
    for c in crops:
        img = photos[c.photo][c.top : c.top + c.side, c.left : c.left + c.side]
        if c.mirror:
            img = img[:, ::-1]
        out.append(preprocess(np.ascontiguousarray(img), pp))
    return np.stack(out)


def crop_batch(purpose: str, count: int, pp: Preprocess | None = None) -> np.ndarray:
    """``count`` preprocessed crops of ``purpose``."""
    return render(crop_plan(purpose, count), pp)


def digest(x: np.ndarray) -> str:
    """SHA-256 of a batch's dtype, shape and bytes (what the manifest records)."""
    arr = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{arr.dtype}|{arr.shape}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()
