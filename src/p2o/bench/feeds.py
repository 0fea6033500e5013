"""What an ONNX file expects as input, and seeded random feeds of that shape (bench's inputs).

Read from the graph without loading the weights; a batch dimension fixed to another size
than asked, a non-float input or a dynamic non-batch dimension is a UsageError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2o.bench.timing import error_text
from p2o.core.errors import UsageError


@dataclass(frozen=True)
class OnnxInput:
    name: str
    dims: tuple[int | str | None, ...]
    """Each dimension: an int when fixed, the symbol (or None) when not."""
    elem_type: int


def onnx_inputs(path: str | Path) -> list[OnnxInput]:
    """The graph inputs of an ONNX file (initializers excluded), without loading weights."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{path} is not a readable ONNX model: {error_text(exc)}") from exc
    inits = {t.name for t in model.graph.initializer}
    out = []
    for i in model.graph.input:
        if i.name in inits:
            continue
        t = i.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim
        )
        out.append(OnnxInput(i.name, dims, t.elem_type))
    return out


def check_batches(inputs: Sequence[OnnxInput], batches: Sequence[int], where: str) -> None:
    """UsageError when an input's batch dimension is fixed to another size than asked."""
    for i in inputs:
        if not i.dims:
            continue
        fixed = i.dims[0]
        if isinstance(fixed, int) and fixed > 0:
            other = [b for b in batches if b != fixed]
            if other:
                raise UsageError(
                    f"{where}: input {i.name!r} has its batch dimension fixed to {fixed}, but "
                    f"--batch asks {','.join(map(str, other))} (bench --batch {fixed}, or "
                    "convert with --batch dynamic)"
                )


def feed_shapes(
    inputs: Sequence[OnnxInput],
    batch: int,
    where: str,
    image: tuple[int, ...] | None = None,
) -> dict[str, tuple[int, ...]]:
    """Shapes of a batch-``batch`` feed: the ONNX dims after the first must be fixed, or come
    from ``image`` (C, H, W: the Paddle model's preprocessing) for a one-input model."""
    import onnx

    shapes = {}
    for i in inputs:
        if i.elem_type != onnx.TensorProto.FLOAT:
            raise UsageError(f"{where}: input {i.name!r} is not float32; p2o bench feeds float32")
        rest = i.dims[1:]
        if image is not None and len(inputs) == 1 and len(rest) == len(image):
            pairs = zip(rest, image, strict=True)
            rest = tuple(d if isinstance(d, int) and d > 0 else s for d, s in pairs)
        if not all(isinstance(d, int) and d > 0 for d in rest):
            raise UsageError(
                f"{where}: input {i.name!r} has dims {list(i.dims)}; p2o bench needs every "
                "dimension but the batch fixed"
            )
        shapes[i.name] = (batch, *(int(d) for d in rest))  # type: ignore[arg-type]
    return shapes


def random_feed(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s, dtype=np.float32) for n, s in shapes.items()}
