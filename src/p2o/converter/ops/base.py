"""What an op mapping declares: a custom op of p2o's, whose nodes carry a body per runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from onnx import ModelProto


@dataclass(frozen=True)
class OpMapping:
    """One op mapping: a Paddle op paddle2onnx lowers badly, as one custom op with a function.

    ``targets``: the runtimes (or kinds of runtime) whose fastest body it knows how to pick;
    ``present``: whether a model holds its op; ``retarget``: a copy of the model whose nodes
    run the bodies picked for a target (same numbers, another speed).
    """

    name: str
    domain: str
    op_type: str
    targets: tuple[str, ...]
    present: Callable[[ModelProto], bool]
    retarget: Callable[[ModelProto, str], ModelProto]
