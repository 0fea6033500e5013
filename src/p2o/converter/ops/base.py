"""What an op mapping declares: how p2o replaces one of paddle2onnx's lowerings (a custom op
with a body per runtime, or a correction in standard ops), found, mapped and proved."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnx import ModelProto

from p2o.converter.simplify import Equivalence


@dataclass(frozen=True)
class OpMapping:
    """One op mapping: a Paddle op paddle2onnx lowers badly (slow, or computing other numbers).

    ``targets``: the runtimes (or kinds of runtime) whose fastest body it knows how to pick;
    ``present``: whether a model holds its op; ``retarget``: a copy of the model whose nodes
    run the bodies picked for a target (same numbers, another speed).

    In the converter's pipeline (each proved against the graph before it):
    ``mark``: at export, a context in which a zoo network's layers of this op mark their
    boundaries in the program (yields one config per layer; none: ``[]``);
    ``map_marked``: replace each marked lowering by the op (returns how many);
    ``find`` + ``map_found``: recognise paddle2onnx's lowering in an unmarked model (with the
    Paddle program's path, for what only the program says) and map it (returns the configs
    mapped); ``describe``: the manifest's ``custom_ops`` entry.

    A mapping that ``corrects`` a lowering that computes other numbers than Paddle cannot be
    proved equal to paddle2onnx's graph: its ``prove`` checks the mapped nodes against their
    own definition on the inputs the graph gives them (the model, what ``map_found`` returned
    and the feed), and the later passes are proved against the corrected graph.
    """

    name: str
    lowering: str  # what paddle2onnx lowers the Paddle op to (said in notes)
    domain: str
    op_type: str
    targets: tuple[str, ...]
    present: Callable[[ModelProto], bool]
    retarget: Callable[[ModelProto, str], ModelProto]
    mark: Callable[[Any], AbstractContextManager[list[dict[str, int]]]]
    map_marked: Callable[[ModelProto, list[dict[str, int]], str], int]
    find: Callable[[ModelProto, Path | None], list[Any]]
    map_found: Callable[[ModelProto, list[Any], str], list[dict[str, int]]]
    describe: Callable[[ModelProto, list[dict[str, int]]], dict[str, Any]]
    corrects: bool = False
    prove: Callable[[ModelProto, list[Any], dict[str, np.ndarray]], Equivalence] | None = None
