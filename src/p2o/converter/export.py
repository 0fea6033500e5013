"""Paddle static export: a dygraph network → ``inference.json`` + ``inference.pdiparams``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "inference"


@dataclass(frozen=True)
class PaddleModelFiles:
    """A Paddle inference model on disk, in either format."""

    model_file: Path  # inference.json (PIR) or inference.pdmodel (legacy program)
    params_file: Path

    @property
    def format(self) -> str:
        return "pir" if self.model_file.suffix == ".json" else "legacy"


@contextlib.contextmanager
def _pir(enabled: bool) -> Iterator[None]:
    import paddle

    old = os.environ.get("FLAGS_enable_pir_api")
    paddle.set_flags({"FLAGS_enable_pir_api": enabled})
    try:
        yield
    finally:
        paddle.set_flags({"FLAGS_enable_pir_api": old not in ("0", "False", "false")})


def export_static(
    model: Any,
    out_dir: str | Path,
    input_shape: tuple[int, int, int] = (3, 224, 224),
    batch: int | None = None,
    legacy: bool = False,
) -> PaddleModelFiles:
    """``paddle.jit.save`` with an ``InputSpec`` named ``x`` (batch dynamic when ``None``).

    ``legacy=True`` writes the ``.pdmodel`` program format that PaddleClas's published
    inference tars hold.
    """
    import paddle

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = paddle.static.InputSpec([batch, *input_shape], "float32", "x")
    model.eval()
    with _pir(not legacy):
        paddle.jit.save(model, str(out / PREFIX), input_spec=[spec])
    return find_paddle_model(out)


def find_paddle_model(directory: str | Path) -> PaddleModelFiles:
    """Locate the model and params files of an exported Paddle inference model."""
    from p2o.errors import UsageError

    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"Paddle model directory not found: {d}")
    for suffix in (".json", ".pdmodel"):
        models = sorted(d.glob(f"*{suffix}"))
        models = [m for m in models if m.with_suffix(".pdiparams").is_file()]
        if len(models) == 1:
            return PaddleModelFiles(models[0], models[0].with_suffix(".pdiparams"))
        if len(models) > 1:
            names = ", ".join(m.name for m in models)
            raise UsageError(f"{d} holds several Paddle models ({names}); point at one")
    raise UsageError(
        f"{d} holds no Paddle inference model (expected inference.json or inference.pdmodel "
        "next to inference.pdiparams)"
    )
