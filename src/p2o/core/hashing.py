"""SHA-256 of files and of named arrays: the identities p2o keys its cache and records by."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def arrays_sha256(items: Iterable[tuple[str, Any]]) -> str:
    """Checksum of a state: key names, dtypes, shapes and bytes, in order."""
    import numpy as np  # numpy is a core dependency; imported here to keep this module light

    h = hashlib.sha256()
    for key, value in items:
        arr = np.ascontiguousarray(value)
        h.update(f"{key}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()
