"""Involution bodies side by side on onnxruntime CPU: ms per call for RedNet50's layer shapes.

Every candidate computes the same thing (checked against a numpy reference before timing):
``out[n, g*Cg+c, h, w] = sum_{i,j} xpad[n, g*Cg+c, h*s+i, w*s+j] * kernel[n, g*K*K+i*K+j, h, w]``.

  stock       paddle2onnx-like unfold: Pad, Gather rows, Gather columns, Transpose of the
              patches, Mul, ReduceSum (the reference of the ratio column)
  convunfold  unfold by a one-hot depthwise Conv, Mul, ReduceSum
  taps        Pad + K*K x (Slice window (strided when s > 1), Slice kernel tap, Mul), Add chain
  taps_sum    as taps, the K*K products summed by one variadic Sum
  phase_taps  stride phases, unit-stride windows, kernel Split once, Add chain
  rowstack    rows unfolded by one Gather, column-shifted kernels, Mul + ReduceSum per column
  colmm       (stride 1) rows stacked channels-last, one batched MatMul over the row offsets
              for all tap columns (kernel columns skewed), K column slices summed
  tileband    (stride 1) the band on width tiles of 7 (or 14: tileband14) outputs, one
              MatMul per row offset
  rowchunks   (stride 1) the row stack in 4 (rowchunks2: 2, rowchunks8: 8) pieces along
              the output rows, each small enough for a core's L2
  p2o_taps    the ai.p2o::Involution function with body "taps" (stride phases, columns
              shifted on the input, rows on the kernel: one Mul + one Add per tap)
  p2o_band    body "band": one banded MatMul over all (row offset, output row) + ReduceSum
  p2o_unfold  body "unfold": one-hot Conv unfold + Mul + ReduceSum (the GPU body)
  p2o_rows    body "rows": the row stack (as rowstack), p2o's pick on wide maps
  chosen      the function with the body p2o's converter picks for this shape on CPU
              (``involution.choose_body``)

The p2o_* candidates run as the runtime runs them: onnxruntime inlines the function and
folds the dispatch; OpenVINO (``--runtime openvino``) reads ``involution.inline``'s output
(for ``chosen``: with the bodies p2o's OpenVINO runner picks, ``TARGET``).

Each round runs every candidate ``--calls`` times (order rotated per round); the tables show
the median over rounds of the mean per call (wall clock, and CPU time of the process, which
is less sensitive to other processes taking the cores), and ref/candidate. The last rows
weight each shape by how often each RedNet uses it (one forward pass, batch 1).

    python benchmarks/involution_body.py [--rounds 15] [--calls 3] [--threads 2] [--no-spin]
        [--runtime ort|openvino] [--candidates stock,p2o_taps,chosen] [--shapes 0,2]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from p2o.converter.ops import involution
from p2o.runtimes.openvino import TARGET as OV_TARGET

OPSET = 17
END = int(np.iinfo(np.int64).max)


# bottlenecks per stage (zoo/rednet.py); the first of stages 2-4 carries the stride
DEPTHS = {
    "RedNet26": (1, 2, 4, 1),
    "RedNet38": (2, 3, 5, 2),
    "RedNet50": (3, 4, 6, 3),
    "RedNet101": (3, 4, 23, 3),
    "RedNet152": (3, 8, 36, 3),
}


@dataclass(frozen=True)
class Shape:
    channels: int
    size: int
    kernel_size: int
    stride: int
    stage: int  # 0: the stem; 1-4: the bottleneck stage
    group_channels: int = 16

    def count(self, model: str) -> int:
        """Involutions of this shape in ``model`` (batch 1, 224x224)."""
        if self.stage == 0:
            return 1
        depth = DEPTHS[model][self.stage - 1]
        if self.stage == 1:
            return depth
        return 1 if self.stride == 2 else depth - 1

    @property
    def groups(self) -> int:
        return self.channels // self.group_channels

    @property
    def out_size(self) -> int:
        p = (self.kernel_size - 1) // 2
        return (self.size + 2 * p - self.kernel_size) // self.stride + 1

    @property
    def label(self) -> str:
        arrow = f"{self.size}" if self.stride == 1 else f"{self.size}->{self.out_size}"
        return f"C={self.channels} {arrow} K={self.kernel_size} s={self.stride}"


SHAPES = [  # every involution shape of RedNet26-152
    Shape(64, 56, 7, 1, 1),
    Shape(128, 56, 7, 2, 2),
    Shape(128, 28, 7, 1, 2),
    Shape(256, 28, 7, 2, 3),
    Shape(256, 14, 7, 1, 3),
    Shape(512, 14, 7, 2, 4),
    Shape(512, 7, 7, 1, 4),
    Shape(32, 112, 3, 1, 0),  # stem
]
P2O_BODIES = {f"p2o_{body}": body for body in involution.BODIES}


class Graph:
    """Node list with fresh value names; inputs ``x``, ``kernel``; output ``y``."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self._n = itertools.count()

    def op(self, op_type: str, inputs: Sequence[str], n: int = 1, **attrs: object) -> list[str]:
        outs = [f"v{next(self._n)}" for _ in range(n)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    def one(self, op_type: str, inputs: Sequence[str], **attrs: object) -> str:
        return self.op(op_type, inputs, **attrs)[0]

    def ints(self, values: Sequence[int], dims: Sequence[int] | None = None) -> str:
        dims = [len(values)] if dims is None else list(dims)
        tensor = helper.make_tensor("c", TensorProto.INT64, dims, [int(v) for v in values])
        return self.one("Constant", [], value=tensor)

    def output(self, value: str) -> None:
        self.nodes.append(helper.make_node("Identity", [value], ["y"]))


def end(count: int, index: int) -> int:
    return index - (count - 1) if index < count - 1 else END


def grouped(g: Graph, sh: Shape) -> tuple[str, str]:
    """x [N*G, Cg, H, W] and kernel [N*G, K*K, Ho, Wo]."""
    x4 = g.one("Reshape", ["x", g.ints([-1, sh.group_channels, 0, 0])])
    k4 = g.one("Reshape", ["kernel", g.ints([-1, sh.kernel_size**2, 0, 0])])
    return x4, k4


def padded(g: Graph, x4: str, sh: Shape) -> str:
    p = (sh.kernel_size - 1) // 2
    return g.one("Pad", [x4, g.ints([0, 0, p, p, 0, 0, p, p])])


def ungrouped(g: Graph, y4: str, sh: Shape) -> None:
    g.output(g.one("Reshape", [y4, g.ints([-1, sh.channels, 0, 0])]))


def kernel_view(g: Graph, sh: Shape, middle: Sequence[int]) -> str:
    """kernel as [N*G, *middle, Ho, Wo]."""
    k = g.one("Reshape", ["kernel", g.ints([-1, sh.kernel_size**2, 0, 0])])
    if len(middle) > 1:
        k = g.one("Unsqueeze", [k, g.ints(list(range(1, len(middle))))])
    return g.one("Reshape", [k, g.ints([0, *middle, 0, 0])])


def add_chain(g: Graph, terms: Sequence[str]) -> str:
    acc = terms[0]
    for t in terms[1:]:
        acc = g.one("Add", [acc, t])
    return acc


def build_stock(g: Graph, sh: Shape) -> None:
    k, s = sh.kernel_size, sh.stride
    x4, _ = grouped(g, sh)
    xp = padded(g, x4, sh)
    # indices [K, Ho]: i + s*h (static here, as paddle2onnx folds them)
    idx = np.arange(k)[:, None] + s * np.arange(sh.out_size)[None, :]
    rows = g.one("Gather", [xp, g.ints(idx.ravel().tolist(), idx.shape)], axis=2)
    cols = g.one("Gather", [rows, g.ints(idx.ravel().tolist(), idx.shape)], axis=4)
    patches = g.one("Transpose", [cols], perm=[0, 1, 2, 4, 3, 5])  # [B, Cg, Ki, Kj, Ho, Wo]
    prod = g.one("Mul", [patches, kernel_view(g, sh, [1, k, k])])
    ungrouped(g, g.one("ReduceSum", [prod, g.ints([2, 3])], keepdims=0), sh)


def build_convunfold(g: Graph, sh: Shape) -> None:
    k, s, p = sh.kernel_size, sh.stride, (sh.kernel_size - 1) // 2
    x1 = g.one("Reshape", ["x", g.ints([-1, 1, 0, 0])])
    eye = np.eye(k * k, dtype=np.float32).reshape(k * k, 1, k, k)
    w = g.one("Constant", [], value=onnx.numpy_helper.from_array(eye))
    u = g.one("Conv", [x1, w], kernel_shape=[k, k], pads=[p] * 4, strides=[s, s])
    u = g.one("Unsqueeze", [u, g.ints([1])])
    u = g.one("Reshape", [u, g.ints([-1, sh.group_channels, k * k, 0, 0])])
    prod = g.one("Mul", [u, kernel_view(g, sh, [1, k * k])])
    ungrouped(g, g.one("ReduceSum", [prod, g.ints([2])], keepdims=0), sh)


def build_taps(g: Graph, sh: Shape, variadic: bool = False) -> None:
    k, s = sh.kernel_size, sh.stride
    x4, k4 = grouped(g, sh)
    xp = padded(g, x4, sh)
    terms = []
    for i, j in itertools.product(range(k), range(k)):
        t = i * k + j
        window = g.one(
            "Slice",
            [xp, g.ints([i, j]), g.ints([end(k, i), end(k, j)]), g.ints([2, 3]), g.ints([s, s])],
        )
        tap = g.one("Slice", [k4, g.ints([t]), g.ints([t + 1]), g.ints([1])])
        terms.append(g.one("Mul", [window, tap]))
    ungrouped(g, g.one("Sum", terms) if variadic else add_chain(g, terms), sh)


def phase_images(g: Graph, xp: str, sh: Shape) -> dict[tuple[int, int], tuple[str, int, int]]:
    """(r, q) → (xp[r::s, q::s] with exact extents, row offsets, column offsets)."""
    k, s = sh.kernel_size, sh.stride
    out = {}
    for r, q in itertools.product(range(s), range(s)):
        a_r, a_q = len(range(r, k, s)), len(range(q, k, s))
        if s == 1:
            out[(r, q)] = (xp, a_r, a_q)
            continue
        last = [end(k, r + s * (a_r - 1)), end(k, q + s * (a_q - 1))]
        image = g.one("Slice", [xp, g.ints([r, q]), g.ints(last), g.ints([2, 3]), g.ints([s, s])])
        out[(r, q)] = (image, a_r, a_q)
    return out


def build_phase_taps(g: Graph, sh: Shape) -> None:
    k, s = sh.kernel_size, sh.stride
    x4, k4 = grouped(g, sh)
    taps = g.op("Split", [k4, g.ints([1] * k * k)], n=k * k, axis=1)
    terms = []
    for (r, q), (image, a_r, a_q) in phase_images(g, padded(g, x4, sh), sh).items():
        for a, b in itertools.product(range(a_r), range(a_q)):
            window = g.one(
                "Slice",
                [image, g.ints([a, b]), g.ints([end(a_r, a), end(a_q, b)]), g.ints([2, 3])],
            )
            terms.append(g.one("Mul", [window, taps[(s * a + r) * k + s * b + q]]))
    ungrouped(g, add_chain(g, terms), sh)


def build_rowstack(g: Graph, sh: Shape) -> None:
    k, s = sh.kernel_size, sh.stride
    x4, _ = grouped(g, sh)
    xp = padded(g, x4, sh)
    k6 = kernel_view(g, sh, [1, k, k])  # [B, 1, Ki, Kj, Ho, Wo]
    idx = np.arange(k)[:, None] + s * np.arange(sh.out_size)[None, :]
    terms = []
    for q in range(s):  # column phases; rows are gathered with the stride
        a_q = len(range(q, k, s))
        image = xp
        if s > 1:
            last = end(k, q + s * (a_q - 1))
            image = g.one("Slice", [xp, g.ints([q]), g.ints([last]), g.ints([3]), g.ints([s])])
        stack = g.one("Gather", [image, g.ints(idx.ravel().tolist(), idx.shape)], axis=2)
        for b in range(a_q):
            j = s * b + q
            kj = g.one("Slice", [k6, g.ints([j]), g.ints([j + 1]), g.ints([3])])
            kj = g.one("Squeeze", [kj, g.ints([3])])  # [B, 1, Ki, Ho, Wo]
            if a_q > 1:  # place column j's taps at column offset b
                kj = g.one("Pad", [kj, g.ints([0, 0, 0, 0, b, 0, 0, 0, 0, a_q - 1 - b])])
            col = g.one("ReduceSum", [g.one("Mul", [stack, kj]), g.ints([2])], keepdims=0)
            if a_q > 1:
                col = g.one("Slice", [col, g.ints([b]), g.ints([end(a_q, b)]), g.ints([3])])
            terms.append(col)
    ungrouped(g, add_chain(g, terms), sh)


def build_colmm(g: Graph, sh: Shape) -> None:
    """Stride 1 only: rows stacked channels-last, one batched MatMul over the row offsets
    for all K tap columns at once (kernel columns skewed), then K column slices summed."""
    k, s, ho = sh.kernel_size, sh.stride, sh.out_size
    assert s == 1
    wp = ho + k - 1
    x4, k4 = grouped(g, sh)
    xw = g.one("Transpose", [padded(g, x4, sh)], perm=[0, 3, 2, 1])  # [B, Wp, Hp, Cg]
    idx = np.arange(ho)[:, None] + np.arange(k)[None, :]  # [Ho, Ki]
    stack = g.one("Gather", [xw, g.ints(idx.ravel().tolist(), idx.shape)], axis=2)
    # kernel [B, Ki, Kj, Ho, Wo] -> [B, Ho, Ki, Kj, Wo] -> skew (j shifts right by j) -> Wp
    k5 = g.one("Reshape", [k4, g.ints([0, k, k, ho, ho])])
    kt = g.one("Transpose", [k5], perm=[0, 3, 1, 2, 4])
    kt = g.one("Pad", [kt, g.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, k])])
    kt = g.one("Reshape", [kt, g.ints([0, 0, 0, -1])])
    kt = g.one("Slice", [kt, g.ints([0]), g.ints([k * (ho + k - 1)]), g.ints([3])])
    kt = g.one("Reshape", [kt, g.ints([0, 0, k, k, wp])])  # [B, Ho, Ki, Kj, Wp]
    kt = g.one("Transpose", [kt], perm=[0, 4, 1, 3, 2])  # [B, Wp, Ho, Kj, Ki]
    y = g.one("MatMul", [kt, stack])  # [B, Wp, Ho, Kj, Cg]
    terms = [
        g.one("Slice", [y, g.ints([j, j]), g.ints([j + ho, j + 1]), g.ints([1, 3])])
        for j in range(k)
    ]
    total = g.one("Squeeze", [add_chain(g, terms), g.ints([3])])  # [B, Wo, Ho, Cg]
    ungrouped(g, g.one("Transpose", [total], perm=[0, 3, 2, 1]), sh)


def build_tileband(g: Graph, sh: Shape, tile: int = 7) -> None:
    """Stride 1 only, width a multiple of ``tile``: the band MatMul on width tiles of
    ``tile`` outputs ([tile x tile+K-1] bands), one MatMul per row offset, summed."""
    k, s, ho = sh.kernel_size, sh.stride, sh.out_size
    assert s == 1 and ho % tile == 0
    nt, wt = ho // tile, tile + k - 1
    x4, k4 = grouped(g, sh)
    xc = g.one("Transpose", [padded(g, x4, sh)], perm=[0, 2, 3, 1])  # [B, Hp, Wp, Cg]
    idx = tile * np.arange(nt)[:, None] + np.arange(wt)[None, :]  # [T, Wt]
    xt = g.one("Gather", [xc, g.ints(idx.ravel().tolist(), idx.shape)], axis=2)  # [B,Hp,T,Wt,Cg]
    k6 = g.one("Reshape", [k4, g.ints([0, k, k, ho, nt, tile])])  # [B, Ki, Kj, Ho, T, Tw]
    kt = g.one("Transpose", [k6], perm=[0, 1, 3, 4, 5, 2])  # [B, Ki, Ho, T, Tw, Kj]
    kt = g.one("Pad", [kt, g.ints([0] * 6 + [0, 0, 0, 0, 0, tile])])  # Kj -> Tw + K
    kt = g.one("Reshape", [kt, g.ints([0, 0, 0, 0, -1])])
    kt = g.one("Slice", [kt, g.ints([0]), g.ints([tile * wt]), g.ints([4])])
    band = g.one("Reshape", [kt, g.ints([0, 0, 0, 0, tile, wt])])  # [B, Ki, Ho, T, Tw, Wt]
    bands = g.op("Split", [band, g.ints([1] * k)], n=k, axis=1)
    terms = []
    for i in range(k):
        rows = g.one("Slice", [xt, g.ints([i]), g.ints([i + ho]), g.ints([1])])
        b_i = g.one("Squeeze", [bands[i], g.ints([1])])
        terms.append(g.one("MatMul", [b_i, rows]))  # [B, Ho, T, Tw, Cg]
    y = g.one("Reshape", [add_chain(g, terms), g.ints([0, 0, -1, sh.group_channels])])
    ungrouped(g, g.one("Transpose", [y], perm=[0, 3, 1, 2]), sh)


def build_rowchunks(g: Graph, sh: Shape, chunks: int = 4) -> None:
    """Stride 1 only: the row stack cut into ``chunks`` pieces along the output rows, each
    small enough for a core's L2 (each piece: one Gather, then Mul + ReduceSum per column)."""
    k, s, ho = sh.kernel_size, sh.stride, sh.out_size
    assert s == 1 and ho % chunks == 0
    x4, _ = grouped(g, sh)
    xp = padded(g, x4, sh)
    k6 = kernel_view(g, sh, [1, k, k])  # [B, 1, Ki, Kj, Ho, Wo]
    cols = [
        g.one("Squeeze", [t, g.ints([3])])
        for t in g.op("Split", [k6, g.ints([1] * k)], n=k, axis=3)
    ]
    pads = [
        g.one("Pad", [c, g.ints([0, 0, 0, 0, j, 0, 0, 0, 0, k - 1 - j])])
        for j, c in enumerate(cols)
    ]
    step = ho // chunks
    pieces = []
    for part in range(chunks):
        rows = range(part * step, (part + 1) * step)
        idx = np.arange(k)[:, None] + np.array(rows)[None, :]
        stack = g.one("Gather", [xp, g.ints(idx.ravel().tolist(), idx.shape)], axis=2)
        terms = []
        for j in range(k):
            kj = g.one(
                "Slice", [pads[j], g.ints([part * step]), g.ints([(part + 1) * step]), g.ints([3])]
            )
            col = g.one("ReduceSum", [g.one("Mul", [stack, kj]), g.ints([2])], keepdims=0)
            terms.append(g.one("Slice", [col, g.ints([j]), g.ints([end(k, j)]), g.ints([3])]))
        pieces.append(add_chain(g, terms))
    ungrouped(g, g.one("Concat", pieces, axis=2), sh)


BUILDERS: dict[str, Callable[[Graph, Shape], None]] = {
    "stock": build_stock,
    "convunfold": build_convunfold,
    "taps": build_taps,
    "taps_sum": lambda g, sh: build_taps(g, sh, variadic=True),
    "phase_taps": build_phase_taps,
    "rowstack": build_rowstack,
    "colmm": build_colmm,
    "rowchunks": build_rowchunks,
    "rowchunks2": lambda g, sh: build_rowchunks(g, sh, 2),
    "rowchunks8": lambda g, sh: build_rowchunks(g, sh, 8),
    "tileband": build_tileband,
    "tileband14": lambda g, sh: build_tileband(g, sh, 14),
}


def make_model(name: str, sh: Shape) -> onnx.ModelProto:
    n, c, hw, ho = 1, sh.channels, sh.size, sh.out_size
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, hw, hw]),
        helper.make_tensor_value_info(
            "kernel", TensorProto.FLOAT, [n, sh.groups * sh.kernel_size**2, ho, ho]
        ),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, c, ho, ho])]
    function = name == "chosen" or name in P2O_BODIES
    if function:
        nodes = [
            involution.make_node(
                "x",
                "kernel",
                "y",
                kernel_size=sh.kernel_size,
                stride=sh.stride,
                groups=sh.groups,
                group_channels=sh.group_channels,
                name="involution",
            )
        ]
        if name in P2O_BODIES:  # chosen: left to attach (the converter's pick)
            involution.set_body(nodes[0], P2O_BODIES[name])
    else:
        g = Graph()
        BUILDERS[name](g, sh)
        nodes = g.nodes
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    return involution.attach(model) if function else model


def reference(x: np.ndarray, kernel: np.ndarray, sh: Shape) -> np.ndarray:
    k, s, p = sh.kernel_size, sh.stride, (sh.kernel_size - 1) // 2
    n, c, _, _ = x.shape
    ho, wo = kernel.shape[2:]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    taps = kernel.reshape(n, sh.groups, 1, k * k, ho, wo)
    out = np.zeros((n, sh.groups, c // sh.groups, ho, wo))
    for i, j in itertools.product(range(k), range(k)):
        window = xp[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]
        out += window.reshape(out.shape) * taps[:, :, :, i * k + j]
    return out.reshape(n, c, ho, wo)


class OpenVinoSession:
    """``run(None, feed)`` like onnxruntime, on OpenVINO CPU (the model inlined first)."""

    def __init__(self, model: onnx.ModelProto, threads: int, target: str | None) -> None:
        import openvino as ov

        core = ov.Core()
        inlined = involution.inline(model, target=target)
        read = core.read_model(inlined.SerializeToString(), b"")
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        self.compiled = core.compile_model(read, "CPU", config)

    def run(self, _: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [self.compiled(feed)[0]]


def session(
    model: onnx.ModelProto, threads: int, spin: bool, runtime: str = "ort", chosen: bool = False
) -> ort.InferenceSession | OpenVinoSession:
    if runtime == "openvino":  # "chosen": the bodies p2o's OpenVINO runner picks
        return OpenVinoSession(model, threads, OV_TARGET if chosen else None)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def measure(sh: Shape, names: list[str], args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, sh.channels, sh.size, sh.size)).astype(np.float32)
    kernel = rng.standard_normal(
        (1, sh.groups * sh.kernel_size**2, sh.out_size, sh.out_size)
    ).astype(np.float32)
    feed = {"x": x, "kernel": kernel}
    want = reference(x, kernel, sh)
    sessions = {
        n: session(make_model(n, sh), args.threads, not args.no_spin, args.runtime, n == "chosen")
        for n in names
    }
    errors = {}
    for n, sess in sessions.items():
        errors[n] = float(np.abs(sess.run(None, feed)[0] - want).max())
        if errors[n] > 1e-4:
            raise SystemExit(f"{n} is wrong for {sh.label}: max abs error {errors[n]:.2e}")
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.calls):
                sessions[n].run(None, feed)
            wall[n].append((time.perf_counter() - t0) / args.calls * 1e3)
            cpu[n].append((time.process_time() - c0) / args.calls * 1e3)
    return {
        "shape": sh.label,
        "counts": {m: sh.count(m) for m in DEPTHS},
        "max_abs_error": errors,
        "wall_ms": {n: statistics.median(v) for n, v in wall.items()},
        "cpu_ms": {n: statistics.median(v) for n, v in cpu.items()},
        "wall_ms_min": {n: min(v) for n, v in wall.items()},
    }


def table(rows: list[dict], key: str, names: list[str], ref: str, weighted: bool) -> None:
    print(f"{'shape':24}" + "".join(f"{n:>17}" for n in names))
    for row in rows:
        ms = row[key]
        print(
            f"{row['shape']:24}" + "".join(f"{ms[n]:8.2f} ({ms[ref] / ms[n]:4.1f}x)" for n in names)
        )
    for model in DEPTHS if weighted else []:
        totals = {n: sum(row[key][n] * row["counts"][model] for row in rows) for n in names}
        print(
            f"{model + ' (weighted)':24}"
            + "".join(f"{totals[n]:8.1f} ({totals[ref] / totals[n]:4.1f}x)" for n in names)
        )


def runtime_label(args: argparse.Namespace) -> str:
    if args.runtime == "openvino":
        import openvino as ov

        return f"OpenVINO {ov.get_version()} CPU, {args.threads} inference threads, f32"
    spin = "off" if args.no_spin else "on"
    return (
        f"onnxruntime {ort.__version__}, intra_op_num_threads={args.threads}, spinning {spin}, "
        "ORT_ENABLE_ALL"
    )


def cpu_label() -> str:
    """``lscpu``'s model name and the flags that matter here (avx512f, amx)."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    shown = sorted(f for f in flags if f == "avx512f" or f.startswith("amx"))
    return f"CPU: {name} ({os.cpu_count()} logical CPUs; {' '.join(shown) or 'no avx512f/amx'})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-spin", action="store_true", help="session.intra_op.allow_spinning=0")
    ap.add_argument("--runtime", choices=["ort", "openvino"], default="ort")
    ap.add_argument("--candidates", default="stock,rowstack,p2o_taps,p2o_band,p2o_unfold,chosen")
    ap.add_argument("--shapes", help="indices into the shape list (default: all)")
    ap.add_argument("--json")
    args = ap.parse_args()
    names = args.candidates.split(",")
    unknown = set(names) - {*BUILDERS, *P2O_BODIES, "chosen"}
    if unknown:
        ap.error(f"unknown candidates: {sorted(unknown)}")
    picked = SHAPES if not args.shapes else [SHAPES[int(i)] for i in args.shapes.split(",")]
    ref = "stock" if "stock" in names else names[0]
    rows = []
    for sh in picked:
        rows.append(measure(sh, names, args))
        print(f"measured {sh.label}", file=sys.stderr, flush=True)
    head = (
        f"{runtime_label(args)}; median over {args.rounds} interleaved rounds of {args.calls} calls"
    )
    print(f"{head}\n{cpu_label()}\n\nwall ms per call ({ref}/candidate):")
    table(rows, "wall_ms", names, ref, picked == SHAPES)
    print(f"\nprocess CPU ms per call, all threads ({ref}/candidate):")
    table(rows, "cpu_ms", names, ref, picked == SHAPES)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": head, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
