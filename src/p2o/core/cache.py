"""A content-keyed cache of numpy arrays under the user cache directory.

What takes long and gives the same numbers for the same inputs (synthetic weights, Paddle
reference outputs) is computed once and kept as one ``.npz`` file per entry::

    arrays = cache.get_or_compute("weights", {"model": name, "seed": 0}, compute)

``compute`` returns an array or a dict of arrays; the cache returns the same type. The key
is any JSON-serialisable dict; its canonical JSON's SHA-256 names the file. Each file holds,
beside the arrays, the key and a SHA-256 of every array (dtype, shape and bytes): an entry
that is not a readable zip, whose key differs or whose arrays do not match their checksum is
recomputed and rewritten, never trusted. Entries are written to a temporary name and renamed,
so a reader (or an interrupted run) never sees half a file. Two processes missing the same
entry at once (release workers on twin models) compute it once: the second waits on the
entry's lock file, removed when the first is done.

Where: ``$P2O_CACHE_DIR`` if set, else the platform's user cache directory
(``~/.cache/p2o`` on Linux). Off: ``$P2O_NO_CACHE=1`` or :func:`set_enabled` (the CLI's
``--no-cache``); then everything is computed and nothing is read or written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

ENV_DIR = "P2O_CACHE_DIR"
ENV_OFF = "P2O_NO_CACHE"
_META = "__p2o_cache__"  # the npz member holding key + checksums (JSON as uint8)
_SINGLE = "__array__"  # member name when compute returned one array


_enabled: bool | None = None  # None: follow $P2O_NO_CACHE


def root() -> Path:
    """The cache directory: ``$P2O_CACHE_DIR``, else the user cache dir of p2o."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("p2o", appauthor=False))


def enabled() -> bool:
    if _enabled is not None:
        return _enabled
    return os.environ.get(ENV_OFF, "").strip().lower() in ("", "0", "false", "no")


def set_enabled(value: bool | None) -> None:
    """Turn the cache on or off for this process (``None``: follow ``$P2O_NO_CACHE``)."""
    global _enabled
    _enabled = value


def key_digest(key: Mapping[str, Any]) -> str:
    """SHA-256 of the key's canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(kind: str, key: Mapping[str, Any]) -> Path:
    if not kind.isidentifier():
        raise ValueError(f"cache kind must be a plain name, got {kind!r}")
    return root() / kind / f"{key_digest(key)}.npz"


def array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _canonical_key(key: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def _read(path: Path, key: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of a sound entry, or None (missing, unreadable, other key, bad checksum)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z[_META]).decode())
            arrays = {k: z[k] for k in z.files if k != _META}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        return None  # includes zip CRC errors (BadZipFile) and truncated files
    if meta.get("key") != _canonical_key(key):
        return None
    sums = meta.get("sha256", {})
    if set(sums) != set(arrays) or any(array_digest(a) != sums[k] for k, a in arrays.items()):
        return None
    return arrays


def _write(path: Path, key: Mapping[str, Any], arrays: dict[str, np.ndarray]) -> None:
    meta = {"key": _canonical_key(key), "sha256": {k: array_digest(a) for k, a in arrays.items()}}
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part", dir=path.parent)
    try:
        members: dict[str, Any] = {_META: blob, **arrays}
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def lookup(kind: str, key: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of a sound entry for ``(kind, key)``, or None (missing, unsound, cache off)."""
    return _read(entry_path(kind, key), key) if enabled() else None


@overload
def get_or_compute(
    kind: str, key: Mapping[str, Any], compute: Callable[[], np.ndarray]
) -> np.ndarray: ...
@overload
def get_or_compute(
    kind: str, key: Mapping[str, Any], compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]: ...
def get_or_compute(kind: str, key: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
    """The cached arrays for ``(kind, key)``, computing and storing them on a miss.

    A cache that cannot be written (read-only, disk full) costs the saving, not the result.
    """
    if not enabled():
        return compute()
    path = entry_path(kind, key)
    found = _read(path, key)
    if found is None:
        with _computing(path):  # another process computing this entry: wait, then read it
            found = _read(path, key)
            if found is None:
                return _compute_and_store(path, key, compute)
    if set(found) == {_SINGLE}:
        return found[_SINGLE]
    return found


@contextlib.contextmanager
def _computing(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock file while computing it, so two processes (release workers)
    asking for the same entry compute it once. Only an optimisation: where the lock cannot
    be taken, or after a race with its removal, both compute and the result is the same.
    """
    lock = path.with_name(f".{path.stem}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _compute_and_store(path: Path, key: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
    value = compute()
    if isinstance(value, np.ndarray):
        arrays = {_SINGLE: value}
    else:
        arrays = {str(k): np.asarray(v) for k, v in value.items()}
    try:
        _write(path, key, arrays)
    except OSError:
        pass
    return value


# --------------------------------------------------------------------------- info / clear


@dataclass
class CacheInfo:
    root: str
    enabled: bool
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> entries, bytes

    @property
    def entries(self) -> int:
        return sum(k["entries"] for k in self.kinds.values())

    @property
    def bytes(self) -> int:
        return sum(k["bytes"] for k in self.kinds.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "enabled": self.enabled,
            "entries": self.entries,
            "bytes": self.bytes,
            "kinds": self.kinds,
        }


def info() -> CacheInfo:
    """What the cache holds, per kind (every folder under the root; files in it, bytes)."""
    base = root()
    out = CacheInfo(root=str(base), enabled=enabled())
    if base.is_dir():
        for d in sorted(p for p in base.iterdir() if p.is_dir()):
            files = [f for f in d.rglob("*") if f.is_file()]
            out.kinds[d.name] = {
                "entries": len(files),
                "bytes": sum(f.stat().st_size for f in files),
            }
    return out


def clear(kind: str | None = None) -> CacheInfo:
    """Delete every entry (or those of one kind); returns what was there before."""
    before = info()
    base = root()
    if kind is not None:
        before.kinds = {k: v for k, v in before.kinds.items() if k == kind}
    for name in before.kinds:
        shutil.rmtree(base / name, ignore_errors=True)
    return before
