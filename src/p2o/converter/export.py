"""Paddle static export: a dygraph network → ``inference.json`` + ``inference.pdiparams``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from p2o.converter.source import PaddleModelFiles, find_paddle_model
from p2o.core.errors import P2OError
from p2o.core.files import remove_tree
from p2o.core.hashing import arrays_sha256

PREFIX = "inference"


def state_sha256(model: Any) -> str:
    """Checksum of a network's weights: key names, dtypes, shapes and bytes, in order."""
    return arrays_sha256((key, tensor.numpy()) for key, tensor in model.state_dict().items())


def export_static(
    model: Any,
    out_dir: str | Path,
    input_shape: tuple[int, int, int] = (3, 224, 224),
    batch: int | None = None,
) -> PaddleModelFiles:
    """``paddle.jit.save`` with an ``InputSpec`` named ``x`` (batch dynamic when ``None``)."""
    import paddle

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = _reuse_key(model, input_shape, batch)
    if key in _reused:
        return _copy_export(_reused[key], out)
    spec = paddle.static.InputSpec([batch, *input_shape], "float32", "x")
    model.eval()
    with paddle.utils.unique_name.guard(), _fresh_struct_names():
        paddle.jit.save(model, str(out / PREFIX), input_spec=[spec])
    files = find_paddle_model(out)
    if key is not None and _reuse_dir is not None:
        _reused[key] = _copy_export(files, _reuse_dir / str(len(_reused)))
    return files


_reuse_dir: Path | None = None
_reused: dict[tuple[Any, ...], PaddleModelFiles] = {}


@contextlib.contextmanager
def reuse_exports(folder: Path) -> Iterator[None]:
    """Within the block, exporting a network again (same class, weights, input shape and
    batch, no export-time marks) copies the first export's files from ``folder`` instead of
    tracing it again: a release model's convert and verify reference export it once. The
    export is deterministic (``_fresh_struct_names``), so the copy is what it would give."""
    global _reuse_dir
    folder.mkdir(parents=True, exist_ok=True)
    _reuse_dir = folder
    try:
        yield
    finally:
        _reuse_dir = None
        _reused.clear()
        remove_tree(folder)


def _reuse_key(model: Any, input_shape: tuple[int, ...], batch: int | None) -> Any:
    if _reuse_dir is None:
        return None
    if any(getattr(layer, "boundary", None) is not None for layer in model.sublayers()):
        return None  # marked for the converter: another program

    return (type(model).__qualname__, state_sha256(model), tuple(input_shape), batch)


def _copy_export(files: PaddleModelFiles, out: Path) -> PaddleModelFiles:
    out.mkdir(parents=True, exist_ok=True)
    for f in (files.model_file, files.params_file):
        shutil.copyfile(f, out / f.name)
    return find_paddle_model(out)


@contextlib.contextmanager
def _fresh_struct_names() -> Iterator[None]:
    """Paddle names each op's layer path per process (``/ConvBN/``, then ``/ConvBN_1/`` in the
    next export of the same network): start afresh, so that the same network always gives the
    same program bytes (the Paddle reference is cached by the program's SHA-256)."""
    from paddle.base import framework

    saved = getattr(framework, "_name_struct", None)
    if saved is None or not hasattr(framework, "NameStruct"):  # another Paddle: nothing to do
        yield
        return
    framework._name_struct = framework.NameStruct()
    try:
        yield
    finally:
        framework._name_struct = saved


def export_legacy(name: str, weights: str | Path, out_dir: str | Path) -> PaddleModelFiles:
    """Export zoo model ``name`` with ``weights`` in the legacy ``.pdmodel`` format.

    That is the format of PaddleClas's published inference tars. Paddle 3.3 picks the
    program format when it starts (``FLAGS_enable_pir_api``), so this runs in a child.
    """

    out = Path(out_dir)
    env = {**os.environ, "FLAGS_enable_pir_api": "0"}
    cmd = [sys.executable, "-m", "p2o.converter.export", name, str(weights), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise P2OError(f"legacy export of {name} failed: {proc.stderr.strip()[-2000:]}")
    legacy = out / f"{PREFIX}.pdmodel"
    if not legacy.is_file():
        raise P2OError(f"legacy export of {name} wrote no {legacy.name}")
    stale = out / f"{PREFIX}.json"
    if stale.exists():
        stale.unlink()
    return PaddleModelFiles(legacy, out / f"{PREFIX}.pdiparams")


if __name__ == "__main__":  # child of export_legacy: NAME WEIGHTS OUT_DIR
    from p2o.zoo import create_model

    export_static(create_model(sys.argv[1], weights=sys.argv[2]), sys.argv[3])
