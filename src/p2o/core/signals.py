"""SIGTERM handled like SIGINT: it raises ``Terminated`` so every ``finally`` runs.

A CI cancel or ``docker stop`` sends SIGTERM; Python's default is to die on the spot, which
leaves temporary folders (``/tmp/p2o-convert-*``) and half-written files behind. While
``sigterm_raises()`` is active the signal raises ``p2o.core.errors.Terminated`` (a
``KeyboardInterrupt``) in the main thread instead.

Importing Paddle installs its own C-level SIGTERM handler over Python's (it prints a stack
and dies); an import hook puts ours back after each ``paddle`` module is loaded.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from p2o.core.errors import Terminated, raise_terminated

_RESTORE = "paddle"  # and its submodules: the handler is set while one of them loads
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_stopping: list[int] = []  # the signal that stopped this worker process, once one did


def _restore() -> None:
    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if handler is raise_terminated or handler is _stop_once:
            signal.signal(sig, handler)  # again, at the C level


def _wrap(loader: Any) -> None:
    original = loader.exec_module

    def exec_module(module: ModuleType) -> None:
        try:
            original(module)
        finally:
            _restore()

    loader.exec_module = exec_module


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds ``paddle`` through the other finders and restores our handler once it ran."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != _RESTORE and not name.startswith(_RESTORE + "."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                _wrap(spec.loader)
                return spec
        return None


_HOOK = _AfterImport()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread
        return
    old = signal.signal(signal.SIGTERM, raise_terminated)
    hooked = _HOOK not in sys.meta_path
    if hooked:
        sys.meta_path.insert(0, _HOOK)
    try:
        yield
    finally:
        if hooked:
            sys.meta_path.remove(_HOOK)
        signal.signal(signal.SIGTERM, old)


def install() -> None:
    """For a worker process: SIGTERM raises ``Terminated`` from now on."""
    signal.signal(signal.SIGTERM, raise_terminated)
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def _silence() -> None:
    """stdout and stderr to /dev/null, at the file-descriptor level (Paddle's C++ writes too)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for fd in (1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


def _stop_once(signum: int, frame: object) -> None:
    """A worker's handler: the first SIGTERM or SIGINT silences the process and raises
    ``Terminated``; later ones (``timeout`` and Ctrl-C signal the whole group, and the driver
    then stops its workers too) are ignored, so the unwinding they would cut short goes on."""
    if _stopping:
        return
    _stopping.append(signum)
    _silence()
    raise Terminated(f"signal {signum}")


def stopping() -> bool:
    """True once a signal told this worker process to stop (see ``install_worker``): whatever
    a library made of the ``Terminated`` it raised, the worker must not go on or publish."""
    return bool(_stopping)


def install_worker() -> None:
    """For a worker process of a driver that owns the clean-up (``p2o release``): SIGTERM and
    SIGINT stop it once and quietly. The driver reports the signal; the worker's temporary
    folders go as it unwinds; the driver removes the work directories once its workers exited."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_once)
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
