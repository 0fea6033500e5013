"""Files that appear whole or not at all, and temporary folders that go whole.

A signal (Ctrl-C, SIGTERM from ``timeout`` or a CI cancel) raises ``KeyboardInterrupt`` or
``Terminated`` wherever the main thread happens to be, also inside ``shutil.rmtree`` while a
temporary folder is being removed; ``tempfile.TemporaryDirectory`` then leaves the rest of the
folder behind for good. ``temporary_folder`` finishes the removal first and raises afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temp file in the same dir, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_tree(path: str | Path) -> None:
    """``shutil.rmtree`` that a signal cannot cut short: a ``KeyboardInterrupt`` (or
    ``Terminated``) raised while removing is held until the folder is gone, then raised."""
    held: KeyboardInterrupt | None = None
    while True:
        try:
            shutil.rmtree(path, ignore_errors=True)
            break
        except KeyboardInterrupt as exc:  # the signal's handler raised in the middle
            held = held or exc
    if held is not None:
        raise held


@contextlib.contextmanager
def temporary_folder(prefix: str) -> Iterator[str]:
    """A new folder under ``$TMPDIR`` for the block, removed afterwards (see ``remove_tree``)."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        remove_tree(path)
