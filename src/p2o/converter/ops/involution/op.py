"""``ai.p2o::Involution``: one ONNX node per RedNet involution, defined by a model-local function.

Semantics (PaddleClas ``involution``). Inputs ``x`` [N, C, H, W] and ``kernel``
[N, G*K*K, Ho, Wo]; output [N, C, Ho, Wo]; attributes ``kernel_size`` K, ``stride`` s,
``groups`` G, ``group_channels`` Cg (C = G*Cg). With ``xpad`` = ``x`` zero-padded by
p = (K-1)//2 on every side (Ho = (H + 2p - K)//s + 1)::

    out[n, g*Cg + c, h, w] = sum_{i,j < K} xpad[n, g*Cg + c, h*s + i, w*s + j]
                                           * kernel[n, g*K*K + i*K + j, h, w]

How the meaning travels
-----------------------
A model that uses the op carries ONE ``FunctionProto`` (domain ``ai.p2o``, name
``Involution``, no overload) built from standard ONNX ops (opset 13 or newer), so runtimes
that do not know the op inline it. The body reads the attributes through ``ref_attr_name``
and dispatches with ``If`` on (kernel_size, stride, body): one branch per configuration the
model uses (:func:`function_protos`), each specialised to its K and s for speed; the last ``else``
is a generic Gather-based unfold that is correct for any K and s (so the function means the
same thing whatever configurations it was built for). After inlining, every condition is a
constant and only the taken branch survives: onnxruntime folds the ``If`` itself, and
:func:`inline` does the same for runtimes that do not inline (OpenVINO).

Why not function overloads (one specialised ``FunctionProto`` per configuration, selected
by ``NodeProto.overload``, IR 10)? Measured with a model holding two overloads of one name
(onnx 1.17, onnxruntime 1.32, onnxsim 0.8.1, onnxslim 0.1.98):

* onnxruntime runs them correctly, ``onnx.checker.check_model(full_check=True)`` accepts
  them, ``onnx.inliner.inline_local_functions`` inlines each call with its own overload,
  onnxsim keeps both;
* onnxslim keeps a single function per (domain, name) and clears ``NodeProto.overload``:
  both nodes then run the same body and the model returns wrong numbers, silently;
* ``onnx.reference.ReferenceEvaluator`` ignores ``overload`` the same way (wrong numbers).

The attribute-generic function with ``If`` dispatch gives the right numbers in all six
(onnxruntime, checker, inliner, onnxsim, onnxslim, reference evaluator), and onnxruntime's
constant folding removes the dispatch (its optimized graph holds only the taken branch).
OpenVINO 2026.4 does not read model-local functions ("No conversion rule found for
operations: ai.p2o.Involution"); it runs :func:`inline`'s output, with the same numbers.

Bodies (attribute ``body``, an index into BODIES; every body computes the same numbers, so
it is a speed hint; the converter proves the mapped model against paddle2onnx's graph
whichever it picked). :func:`attach` gives each node the body :func:`choose_body` picks from
its input's width (shape inference) and the target, ``p2o convert --involution-body
cpu|gpu|openvino``; the OpenVINO runner re-picks them for ``openvino`` (:func:`retarget`):

* ``rows`` (cpu, wide maps and unknown widths): per column phase the padded input's rows
  i + s*h are stacked by one Gather ([B, Cg, K, Ho, Wq]); per tap column j one ``Mul`` with
  the kernel's column j (zero-padded to its column offset), one ``ReduceSum`` over the K
  row offsets and one column ``Slice`` (about 6 ops per tap column, each over K x-sized
  rows, large enough for onnxruntime to run on every thread);
* ``taps`` (K = 1; any map): shifted windows, one ``Mul`` and one ``Add`` per tap over
  x-sized tensors (about 150 small ops per 7x7 layer, which run on one thread);
* ``band`` (cpu, outputs at most BAND_MAX_WIDTH = 28 wide): per output row h and row offset i
  one [Wo x Wq] band (kernel[i, j, h, w] at column s*w + j) times the [Wq x Cg] padded input
  row (channels last): ONE MatMul over all (i, h) and one ReduceSum over i (about 15 ops plus
  shape arithmetic). The band costs ~Wq/K times the kernel, so it pays on narrow maps;
* ``unfold`` (gpu): a one-hot Conv unfolds every channel into its K*K taps, one Mul with
  the kernel (broadcast over the group's channels) and one ReduceSum: three large kernels
  per involution instead of ~150 launches. Its unfold is K*K times x (memory-heavy on CPU).

Measured with ``benchmarks/involution_body.py`` (per layer) and whole RedNets
(``benchmarks/rednet_involution.py``); figures and CPUs in docs/converter.md.

The ``taps`` body in detail. The groups are folded into the batch ([N*G, Cg, H, W]; a
kernel tap [N*G, 1, Ho, Wo] broadcasts over the Cg channels of its group; a Cg-first layout
measured no faster):

* stride phases: for s > 1 the padded input is cut into s*s phase images
  ``xpad[r::s, q::s]`` whose extents are exact for any H, W (negative slice ends); tap
  (i, j) = (s*a + r, s*b + q) then reads phase (r, q) at the unit-stride offset (a, b).
  Strided window slices are avoided: they made stride-2 layers about 2x slower;
* columns shifted on the input, rows shifted on the kernel: per phase one column slice per
  column offset b, kept at the phase's full height; for row offset a the kernel taps of
  that row are zero-padded by (a, A-1-a) rows instead, the products of the row are summed
  at full height and one row ``Slice`` realigns the sum. Per tap one ``Mul`` and one
  ``Add`` on x-sized tensors remain, and a layer needs about 2K slices instead of K*K;
* sums are chains of binary ``Add`` (in place in onnxruntime): a variadic ``Sum`` of 49
  inputs measured about 1.5x slower. The kernel rows and taps come from ``Split``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import onnx
from onnx import AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, helper

from p2o.converter.passes.functions import all_nodes, default_opset, inline_functions

DOMAIN = "ai.p2o"
OP_TYPE = "Involution"
DOMAIN_VERSION = 1
ATTRIBUTES = ("kernel_size", "stride", "groups", "group_channels", "body")
# The ``body`` attribute picks how the function computes the op (its index in BODIES); every
# body computes the same involution, so it is a speed hint, never a change of meaning.
BODIES = ("taps", "band", "unfold", "rows")
TARGETS = ("cpu", "gpu", "openvino")  # what ``choose_body`` optimises for
# cpu: the banded MatMul body for outputs at most this wide (measured, see the module docstring)
BAND_MAX_WIDTH = 28
MIN_OPSET = 13  # Split/Pad/ReduceSum/Squeeze take their sizes and axes as inputs from 13 on
DEFAULT_OPSET = 17

_END = np.iinfo(np.int64).max  # slice end "to the last element"


class Config(NamedTuple):
    """What the body's structure depends on; groups, channels and sizes are read at run time."""

    kernel_size: int
    stride: int
    body: str = "taps"


def choose_body(kernel_size: int, stride: int, width: int | None, target: str = "cpu") -> str:
    """The body for an involution whose input is ``width`` columns wide (None: unknown).

    ``gpu``: the conv unfold (three large kernels). ``cpu`` (onnxruntime): the banded
    MatMul where the output is at most ``BAND_MAX_WIDTH`` wide, the row stack for wider ones
    or an unknown width, the shifted taps for K = 1 (a plain product). ``openvino``: as
    ``cpu``, with the shifted taps instead of the row stack (OpenVINO runs the row stack
    slower than the stock lowering; whole RedNets in docs/converter.md).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r} ({', '.join(TARGETS)})")
    if target == "gpu":
        return "unfold"
    if kernel_size == 1:
        return "taps"
    if width is not None and (width - 1) // stride + 1 <= BAND_MAX_WIDTH:  # output width
        return "band"
    return "taps" if target == "openvino" else "rows"


def make_node(
    x: str,
    kernel: str,
    out: str,
    *,
    kernel_size: int,
    stride: int,
    groups: int,
    group_channels: int,
    name: str,
) -> NodeProto:
    """One ``ai.p2o::Involution`` node (see the module docstring for the meaning).

    Its ``body`` is left to :func:`attach`, which chooses one per node (or :func:`set_body`).
    """
    _check_config(kernel_size, stride)
    if groups < 1 or group_channels < 1:
        raise ValueError(
            f"groups and group_channels must be positive, got {groups}, {group_channels}"
        )
    return helper.make_node(
        OP_TYPE,
        [x, kernel],
        [out],
        name=name,
        domain=DOMAIN,
        kernel_size=kernel_size,
        stride=stride,
        groups=groups,
        group_channels=group_channels,
    )


def set_body(node: NodeProto, body: str) -> NodeProto:
    """Ask ``node`` to run the function body ``body`` (one of BODIES); returns ``node``."""
    code = _body_code(body)
    kept = [a for a in node.attribute if a.name != "body"]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute("body", code)])
    return node


def _body_code(body: str) -> int:
    if body not in BODIES:
        raise ValueError(f"unknown involution body {body!r} ({', '.join(BODIES)})")
    return BODIES.index(body)


def _attrs(node: NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def body_of(node: NodeProto) -> str | None:
    """The body an ``Involution`` node asks for (None when it has no ``body`` attribute)."""
    code = _attrs(node).get("body")
    return None if code is None else BODIES[int(code)]


def configs_of(nodes: Iterable[NodeProto]) -> list[Config]:
    """The distinct (kernel_size, stride, body) of the ``Involution`` nodes among ``nodes``."""
    found: set[Config] = set()
    for node in nodes:
        if node.domain == DOMAIN and node.op_type == OP_TYPE:
            attrs = _attrs(node)
            body = body_of(node) or "taps"
            found.add(Config(int(attrs["kernel_size"]), int(attrs["stride"]), body))
    return sorted(found)


def function_protos(
    configs: Iterable[Config | tuple[int, int]], opset: int = DEFAULT_OPSET
) -> list[FunctionProto]:
    """The model-local function(s) for a model whose involutions use ``configs``.

    ``configs`` are (kernel_size, stride[, body]) tuples (body "taps" when left out); each
    gets a branch specialised to its K and s, built the body's way; any other configuration
    runs the generic branch. ``opset`` is the default-domain opset of the
    model (the function imports the same one). Always a single ``FunctionProto``.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"the Involution function needs opset >= {MIN_OPSET}, got {opset}")
    wanted = sorted({Config(*c) for c in configs})
    for c in wanted:
        _check_config(c.kernel_size, c.stride)
        _body_code(c.body)

    b = _Builder("")
    x, kernel = "x", "kernel"
    k = b.attr_int("kernel_size")
    s = b.attr_int("stride")
    cg = b.attr_int("group_channels")
    g = b.attr_int("groups")
    body = b.attr_int("body")
    kk = b.op("Mul", [k, k])
    channels = b.op("Mul", [g, cg])
    # Groups go to the batch: x [N*G, Cg, H, W], kernel [N*G, K*K, Ho, Wo].
    x4 = b.op(
        "Reshape", [x, b.op("Concat", [b.ints([-1]), b.unsqueeze0(cg), b.ints([0, 0])], axis=0)]
    )
    k4 = b.op(
        "Reshape",
        [kernel, b.op("Concat", [b.ints([-1]), b.unsqueeze0(kk), b.ints([0, 0])], axis=0)],
    )
    inner = _generic_branch(k, s, x4, k4)
    for index, c in enumerate(reversed(wanted)):
        same_k = b.op("Equal", [k, b.scalar(c.kernel_size)])
        same_s = b.op("Equal", [s, b.scalar(c.stride)])
        same_body = b.op("Equal", [body, b.scalar(_body_code(c.body))])
        cond = b.op("And", [b.op("And", [same_k, same_s]), same_body])
        y = f"dispatch{index}_y"
        node = helper.make_node(
            "If",
            [cond],
            [y],
            name=f"dispatch{index}",
            then_branch=_BRANCHES[c.body](c, x4, k4),
            else_branch=inner,
        )
        inner = _graph(f"dispatch{index}", [node], [y])
    y4 = b.inline_graph(inner)
    b.nodes.append(
        helper.make_node(
            "Reshape",
            [y4, b.op("Concat", [b.ints([-1]), b.unsqueeze0(channels), b.ints([0, 0])], axis=0)],
            ["y"],
        )
    )
    function = helper.make_function(
        DOMAIN,
        OP_TYPE,
        ["x", "kernel"],
        ["y"],
        b.nodes,
        [helper.make_opsetid("", opset)],
        attributes=list(ATTRIBUTES[:-1]),
        attribute_protos=[helper.make_attribute("body", 0)],  # default: taps
        doc_string=(
            "Involution (PaddleClas semantics); see p2o.converter.ops.involution. "
            f"Attribute body (a speed hint, same numbers): {dict(enumerate(BODIES))}."
        ),
    )
    return [function]


def attach(model: ModelProto, opset: int | None = None, target: str = "cpu") -> ModelProto:
    """Add the function(s) for the model's ``Involution`` nodes and the ``ai.p2o`` import.

    Each node without a ``body`` attribute gets the one :func:`choose_body` picks for
    ``target`` and its input's width (from shape inference). Replaces an
    ``ai.p2o::Involution`` function the model may already hold. ``opset`` defaults to the
    model's default-domain opset. Returns ``model`` (modified in place).
    """
    if opset is None:
        opset = default_opset(model)
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, DOMAIN_VERSION))
    assign_bodies(model, target)
    configs = configs_of(all_nodes(model.graph))
    kept = [f for f in model.functions if (f.domain, f.name) != (DOMAIN, OP_TYPE)]
    del model.functions[:]
    model.functions.extend(kept + function_protos(configs, opset))
    if model.ir_version < 8:  # model-local functions need IR 8
        model.ir_version = 8
    return model


def assign_bodies(model: ModelProto, target: str = "cpu") -> None:
    """Give each top-level ``Involution`` node without a ``body`` the one for ``target``."""
    nodes = [
        n
        for n in model.graph.node
        if n.domain == DOMAIN and n.op_type == OP_TYPE and body_of(n) is None
    ]
    if not nodes:
        return
    widths = _input_widths(model) if target != "gpu" else {}
    for node in nodes:
        attrs = _attrs(node)
        body = choose_body(
            int(attrs["kernel_size"]), int(attrs["stride"]), widths.get(node.input[0]), target
        )
        set_body(node, body)


def _input_widths(model: ModelProto) -> dict[str, int]:
    """Static last dimension of every 4-D tensor that shape inference can tell.

    Each ``Involution`` stands in as an ``AveragePool`` with its window, padding and stride,
    whose output has the involution's shape, so the shapes flow through every layer.
    """
    stand_in = ModelProto()
    stand_in.CopyFrom(model)
    del stand_in.functions[:]
    for node in stand_in.graph.node:
        if node.domain == DOMAIN and node.op_type == OP_TYPE:
            attrs = _attrs(node)
            k, stride = int(attrs["kernel_size"]), int(attrs["stride"])
            pool = helper.make_node(
                "AveragePool",
                [node.input[0]],
                list(node.output),
                kernel_shape=[k, k],
                pads=[(k - 1) // 2] * 4,
                strides=[stride, stride],
            )
            node.CopyFrom(pool)
    inferred = onnx.shape_inference.infer_shapes(stand_in)
    widths = {}
    for v in [*inferred.graph.value_info, *inferred.graph.input]:
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].HasField("dim_value"):
            widths[v.name] = int(dims[3].dim_value)
    return widths


def inline(model: ModelProto, body: str | None = None, target: str | None = None) -> ModelProto:
    """The model with every model-local function inlined and the dispatch resolved.

    ``onnx.inliner`` expands the calls; then each ``If`` whose condition is computable
    from constants is replaced by its taken branch, and the nodes left unused are dropped.
    The result holds standard ONNX ops only (no ``ai.p2o`` import), for runtimes that do
    not inline model-local functions themselves (OpenVINO). ``body``: every ``Involution``
    runs this body instead of the one it names; ``target``: each runs the body
    :func:`choose_body` picks for that target (same numbers either way; for a runtime whose
    fastest bodies differ from the converter's pick).
    """
    if body is not None:
        model = with_body(model, body)
    elif target is not None:
        model = retarget(model, target)
    return inline_functions(model, [DOMAIN])


def retarget(model: ModelProto, target: str) -> ModelProto:
    """A copy of ``model`` whose top-level ``Involution`` nodes run ``target``'s bodies."""
    out = ModelProto()
    out.CopyFrom(model)
    for node in out.graph.node:
        if node.domain == DOMAIN and node.op_type == OP_TYPE:
            kept = [a for a in node.attribute if a.name != "body"]
            del node.attribute[:]
            node.attribute.extend(kept)
    return attach(out, target=target)


def with_body(model: ModelProto, body: str) -> ModelProto:
    """A copy of ``model`` whose every ``Involution`` node runs ``body`` (functions rebuilt)."""
    out = ModelProto()
    out.CopyFrom(model)
    for node in all_nodes(out.graph):
        if node.domain == DOMAIN and node.op_type == OP_TYPE:
            set_body(node, body)
    return attach(out)


# --------------------------------------------------------------------------- bodies


def _check_config(kernel_size: int, stride: int) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    if stride < 1:
        raise ValueError(f"stride must be positive, got {stride}")


def _end(count: int, index: int) -> int:
    """Slice end that keeps ``count - 1 - index`` trailing elements out."""
    return index - (count - 1) if index < count - 1 else int(_END)


def _taps_branch(c: Config, x4: str, k4: str) -> GraphProto:
    """x4 [B, Cg, H, W], k4 [B, K*K, Ho, Wo] (outer scope) → [B, Cg, Ho, Wo], for ``c`` only.

    Shifted taps: per tap one ``Mul`` and one ``Add`` over x-sized tensors.
    """
    prefix = f"k{c.kernel_size}s{c.stride}taps_"
    b = _Builder(prefix)
    kk, s = c.kernel_size, c.stride
    p = (kk - 1) // 2
    xp = b.op("Pad", [x4, b.ints([0, 0, p, p, 0, 0, p, p])]) if p else x4
    # kernel rows: row i holds the taps (i, 0..K-1)
    rows = b.split(k4, [kk] * kk, axis=1) if kk > 1 else [k4]
    total: str | None = None
    for r in range(s):
        a_r = len(range(r, kk, s))  # row offsets of row phase r
        if a_r == 0:
            continue
        columns: list[tuple[int, str]] = []  # (j, x columns for tap column j)
        for q in range(s):
            a_q = len(range(q, kk, s))
            if a_q == 0:
                continue
            phase = xp
            if s > 1:  # xp[r::s, q::s] with exactly Ho + a_r - 1 rows, Wo + a_q - 1 columns
                last_i, last_j = r + s * (a_r - 1), q + s * (a_q - 1)
                phase = b.op(
                    "Slice",
                    [
                        xp,
                        b.ints([r, q]),
                        b.ints([_end(kk, last_i), _end(kk, last_j)]),
                        b.ints([2, 3]),
                        b.ints([s, s]),
                    ],
                )
            for col in range(a_q):
                x_col = (
                    phase
                    if a_q == 1
                    else b.op(
                        "Slice", [phase, b.ints([col]), b.ints([_end(a_q, col)]), b.ints([3])]
                    )
                )
                columns.append((s * col + q, x_col))
        for a in range(a_r):
            i = s * a + r
            k_row = rows[i]  # [B, K, Ho, Wo]
            if a_r > 1:  # place the row's taps at row offset a of the phase's full height
                k_row = b.op("Pad", [k_row, b.ints([0, 0, a, 0, 0, 0, a_r - 1 - a, 0])])
            taps = b.split(k_row, [1] * kk, axis=1) if kk > 1 else [k_row]
            acc: str | None = None
            for j, x_col in columns:
                prod = b.op("Mul", [x_col, taps[j]])
                acc = prod if acc is None else b.op("Add", [acc, prod])
            assert acc is not None
            if a_r > 1:
                acc = b.op("Slice", [acc, b.ints([a]), b.ints([_end(a_r, a)]), b.ints([2])])
            total = acc if total is None else b.op("Add", [total, acc])
    return _finish(b, total)


def _band_branch(c: Config, x4: str, k4: str) -> GraphProto:
    """Banded MatMul: per output row h and row offset i, [Wo, Wq] band @ [Wq, Cg] x row.

    The band of row (h, i) holds kernel[i, j, h, w] at column s*w + j. It is made without
    any gather: each kernel row (the K taps of column w) is widened to L = Wq + s values by
    an identity-like [K, L] MatMul (after Wr - Wo zero rows) and the [Wr, L] block is read
    as [Wr + 1, Wq], which starts row w exactly s*w columns later (Wr = ceil(Wp / s),
    Wq = s*Wr >= Wp; the extra rows and the extra x columns are zeros). One MatMul over
    all (i, h), one ReduceSum over i.
    """
    prefix = f"k{c.kernel_size}s{c.stride}band_"
    b = _Builder(prefix)
    kk, s = c.kernel_size, c.stride
    p = (kk - 1) // 2
    xs, ks = b.op("Shape", [x4]), b.op("Shape", [k4])
    ho, wo = b.op("Gather", [ks, b.scalar(2)]), b.op("Gather", [ks, b.scalar(3)])
    wp = b.op("Add", [b.op("Gather", [xs, b.scalar(3)]), b.scalar(2 * p)])
    wr = b.op("Div", [b.op("Add", [wp, b.scalar(s - 1)]), b.scalar(s)])  # ceil(Wp / s)
    wq = b.op("Mul", [wr, b.scalar(s)])
    # x: zero-padded (on the right up to Wq columns), channels last, rows i + s*h stacked
    right = b.unsqueeze0(b.op("Add", [b.op("Sub", [wq, wp]), b.scalar(p)]))
    xpad = b.op("Pad", [x4, b.op("Concat", [b.ints([0, 0, p, p, 0, 0, p]), right], axis=0)])
    xt = b.op("Transpose", [xpad], perm=[0, 2, 3, 1])  # [B, Hp, Wq, Cg]
    index = _row_index(b, kk, s, ho)  # [K, Ho]
    rows = b.op("Gather", [xt, index], axis=1)  # [B, K, Ho, Wq, Cg]
    # kernel: [B, K(i), Ho, Wo, K(j)] → padded [B, K, Ho, Wr, Wq + s] → band [B, K, Ho, Wr + 1, Wq]
    hw = b.op("Slice", [ks, b.ints([2]), b.ints([4])])
    k6 = b.op("Reshape", [k4, b.op("Concat", [b.ints([-1, kk, kk]), hw], axis=0)])
    kt = b.op("Transpose", [k6], perm=[0, 1, 3, 4, 2])
    extra_rows = b.unsqueeze0(b.op("Sub", [wr, wo]))
    pads = b.op("Concat", [b.ints([0] * 8), extra_rows, b.ints([0])], axis=0)
    # taps widened to Wq + s columns by a [K, Wq + s] identity-like MatMul (on every thread,
    # where a Pad of the last axis runs on one); EyeLike takes kt's type from any kt value
    anchor = b.op("ReduceSum", [b.op("Slice", [kt, b.ints([0]), b.ints([1]), b.ints([4])])])
    wide = b.op("Concat", [b.ints([kk]), b.unsqueeze0(b.op("Add", [wq, b.scalar(s)]))], axis=0)
    widen = b.op("EyeLike", [b.op("Expand", [b.op("Reshape", [anchor, b.ints([1, 1])]), wide])])
    shape = b.op(
        "Concat",
        [b.ints([0, 0, 0]), b.unsqueeze0(b.op("Add", [wr, b.scalar(1)])), b.unsqueeze0(wq)],
        axis=0,
    )
    band = b.op("Reshape", [b.op("MatMul", [b.op("Pad", [kt, pads]), widen]), shape])
    y = b.op("ReduceSum", [b.op("MatMul", [band, rows]), b.ints([1])], keepdims=0)
    y = b.op("Slice", [y, b.ints([0]), b.unsqueeze0(wo), b.ints([2])])  # [B, Ho, Wo, Cg]
    out = f"{prefix}y"
    b.nodes.append(helper.make_node("Transpose", [y], [out], name=out, perm=[0, 3, 1, 2]))
    return _graph(f"{prefix}body", b.nodes, [out])


def _unfold_branch(c: Config, x4: str, k4: str) -> GraphProto:
    """Conv unfold: one Conv with one-hot filters, one Mul, one ReduceSum (GPU-friendly).

    Every channel is unfolded alone ([B*Cg, 1, H, W] → [B*Cg, K*K, Ho, Wo]); the K*K taps
    then meet the kernel, broadcast over the group's channels, and are summed.
    """
    prefix = f"k{c.kernel_size}s{c.stride}unfold_"
    b = _Builder(prefix)
    kk, s = c.kernel_size, c.stride
    p = (kk - 1) // 2
    eye = onnx.numpy_helper.from_array(
        np.eye(kk * kk, dtype=np.float32).reshape(kk * kk, 1, kk, kk), "value"
    )
    weight = b.op("Constant", [], value=eye)
    x1 = b.op("Reshape", [x4, b.ints([-1, 1, 0, 0])])
    u = b.op("Conv", [x1, weight], kernel_shape=[kk, kk], pads=[p] * 4, strides=[s, s])
    cg = b.unsqueeze0(b.op("Gather", [b.op("Shape", [x4]), b.scalar(1)]))
    hw = b.op("Slice", [b.op("Shape", [k4]), b.ints([2]), b.ints([4])])
    u = b.op("Reshape", [u, b.op("Concat", [b.ints([-1]), cg, b.ints([kk * kk]), hw], axis=0)])
    k5 = b.op("Unsqueeze", [k4, b.ints([1])])  # [B, 1, K*K, Ho, Wo]
    out = f"{prefix}y"
    product = b.op("Mul", [u, k5])  # [B, Cg, K*K, Ho, Wo]
    b.nodes.append(
        helper.make_node("ReduceSum", [product, b.ints([2])], [out], name=out, keepdims=0)
    )
    return _graph(f"{prefix}body", b.nodes, [out])


def _rows_branch(c: Config, x4: str, k4: str) -> GraphProto:
    """Row stack: rows gathered once, then per tap column one Mul and one ReduceSum.

    Per column phase q (stride s) the padded input's columns q::s are taken and its rows
    i + s*h stacked by one Gather ([B, Cg, K, Ho, Wq]). Column j = s*b + q of the kernel
    ([B, 1, K, Ho, Wo], broadcast over the group's channels) is zero-padded to column offset
    b of the phase's width; the product is summed over the K row offsets and one column
    Slice realigns it. About 6 ops per tap column, each over K x-sized rows.
    """
    prefix = f"k{c.kernel_size}s{c.stride}rows_"
    b = _Builder(prefix)
    kk, s = c.kernel_size, c.stride
    p = (kk - 1) // 2
    xp = b.op("Pad", [x4, b.ints([0, 0, p, p, 0, 0, p, p])])
    ks = b.op("Shape", [k4])
    ho = b.op("Gather", [ks, b.scalar(2)])
    index = _row_index(b, kk, s, ho)  # [K, Ho]
    hw = b.op("Slice", [ks, b.ints([2]), b.ints([4])])
    k6 = b.op("Reshape", [k4, b.op("Concat", [b.ints([-1, 1, kk, kk]), hw], axis=0)])
    columns = [b.op("Squeeze", [t, b.ints([3])]) for t in b.split(k6, [1] * kk, axis=3)]
    total: str | None = None
    for q in range(s):
        a_q = len(range(q, kk, s))  # column offsets of column phase q
        if a_q == 0:
            continue
        phase = xp
        if s > 1:  # xp[..., q::s] with exactly Wo + a_q - 1 columns
            last = _end(kk, q + s * (a_q - 1))
            phase = b.op("Slice", [xp, b.ints([q]), b.ints([last]), b.ints([3]), b.ints([s])])
        stack = b.op("Gather", [phase, index], axis=2)  # [B, Cg, K, Ho, Wo + a_q - 1]
        for col in range(a_q):
            k_col = columns[s * col + q]  # [B, 1, K, Ho, Wo]
            if a_q > 1:
                k_col = b.op("Pad", [k_col, b.ints([0] * 4 + [col] + [0] * 4 + [a_q - 1 - col])])
            y = b.op("ReduceSum", [b.op("Mul", [stack, k_col]), b.ints([2])], keepdims=0)
            if a_q > 1:
                y = b.op("Slice", [y, b.ints([col]), b.ints([_end(a_q, col)]), b.ints([3])])
            total = y if total is None else b.op("Add", [total, y])
    return _finish(b, total)


_BRANCHES = {
    "taps": _taps_branch,
    "band": _band_branch,
    "unfold": _unfold_branch,
    "rows": _rows_branch,
}


def _generic_branch(k: str, s: str, x4: str, k4: str) -> GraphProto:
    """Any K and s, read at run time: Gather-based unfold, like the stock lowering."""
    b = _Builder("generic_")
    one = b.scalar(1)
    p = b.op("Div", [b.op("Sub", [k, one]), b.scalar(2)])
    p1 = b.unsqueeze0(p)
    zeros2 = b.ints([0, 0])
    xp = b.op("Pad", [x4, b.op("Concat", [zeros2, p1, p1, zeros2, p1, p1], axis=0)])
    kshape = b.op("Shape", [k4])
    hw = b.op("Slice", [kshape, b.ints([2]), b.ints([4])])
    taps = b.op("Unsqueeze", [b.op("Range", [b.scalar(0), k, one]), b.ints([1])])  # [K, 1]

    def window_index(axis: int) -> str:  # [K, n]: i + s*h
        n = b.op("Gather", [kshape, b.scalar(axis)])
        starts = b.op("Mul", [b.op("Range", [b.scalar(0), n, one]), s])
        return b.op("Add", [taps, b.op("Unsqueeze", [starts, b.ints([0])])])

    u = b.op("Gather", [xp, window_index(2)], axis=2)  # [B, Cg, K, Ho, Wp]
    u = b.op("Gather", [u, window_index(3)], axis=4)  # [B, Cg, K(i), Ho, K(j), Wo]
    k1 = b.unsqueeze0(k)
    k6 = b.op("Reshape", [k4, b.op("Concat", [b.ints([0, 1]), k1, k1, hw], axis=0)])
    k6 = b.op("Transpose", [k6], perm=[0, 1, 2, 4, 3, 5])  # [B, 1, K(i), Ho, K(j), Wo]
    prod = b.op("Mul", [u, k6])
    y = b.op("ReduceSum", [prod, b.ints([2, 4])], keepdims=0)
    b.rename_last(y, "generic_y")
    return _graph("generic_body", b.nodes, ["generic_y"])


def _row_index(b: _Builder, kk: int, s: int, ho: str) -> str:
    """[K, Ho] int64: input row i + s*h of row offset i and output row h."""
    offsets = b.op("Unsqueeze", [b.ints(list(range(kk))), b.ints([1])])  # [K, 1]
    starts = b.op("Mul", [b.op("Range", [b.scalar(0), ho, b.scalar(1)]), b.scalar(s)])
    return b.op("Add", [offsets, b.op("Unsqueeze", [starts, b.ints([0])])])


def _finish(b: _Builder, total: str | None) -> GraphProto:
    """The branch graph whose output is ``total``, renamed to the builder's ``y``."""
    assert total is not None
    out = f"{b.prefix}y"
    b.rename_last(total, out)
    return _graph(f"{b.prefix}body", b.nodes, [out])


def _graph(name: str, nodes: Sequence[NodeProto], outputs: Sequence[str]) -> GraphProto:
    """A subgraph; outputs carry no type so that the function stays type-generic."""
    values = []
    for o in outputs:
        v = onnx.ValueInfoProto()
        v.name = o
        values.append(v)
    return helper.make_graph(list(nodes), name, [], values)


class _Builder:
    """Collects nodes; value and node names are ``prefix`` + a counter."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[NodeProto] = []
        self._count = itertools.count()
        self._consts: dict[tuple[tuple[int, ...], tuple[int, ...]], str] = {}

    def fresh(self, hint: str) -> str:
        return f"{self.prefix}{hint}_{next(self._count)}"

    def op(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        return self.multi(op_type, inputs, 1, **attrs)[0]

    def multi(self, op_type: str, inputs: Sequence[str], n: int, **attrs: Any) -> list[str]:
        outs = [self.fresh(op_type.lower()) for _ in range(n)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs))
        return outs

    def split(self, x: str, sizes: Sequence[int], axis: int) -> list[str]:
        return self.multi("Split", [x, self.ints(sizes)], len(sizes), axis=axis)

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant (shared within this builder)."""
        return self._const((len(values),), tuple(int(v) for v in values))

    def scalar(self, value: int) -> str:
        """A 0-D int64 constant (shared within this builder)."""
        return self._const((), (int(value),))

    def _const(self, dims: tuple[int, ...], values: tuple[int, ...]) -> str:
        # A ``value`` tensor, not ``value_ints``: onnx 1.17's shape inference reads
        # ``value_ints`` constants as 0-D and then rejects them as Pad's ``pads``.
        key = (dims, values)
        if key not in self._consts:
            tensor = helper.make_tensor("value", onnx.TensorProto.INT64, dims, values)
            self._consts[key] = self.op("Constant", [], value=tensor)
        return self._consts[key]

    def attr_int(self, attribute: str) -> str:
        """A scalar int64 holding the calling node's attribute ``attribute``."""
        out = self.fresh(attribute)
        node = helper.make_node("Constant", [], [out], name=out)
        ref = AttributeProto()
        ref.name = "value_int"
        ref.ref_attr_name = attribute
        ref.type = AttributeProto.INT
        node.attribute.append(ref)
        self.nodes.append(node)
        return out

    def unsqueeze0(self, scalar: str) -> str:
        return self.op("Unsqueeze", [scalar, self.ints([0])])

    def rename_last(self, value: str, new: str) -> None:
        """Rename ``value`` (an output of the last node that made it) to ``new``."""
        for node in reversed(self.nodes):
            if value in node.output:
                node.output[list(node.output).index(value)] = new
                return
        raise ValueError(f"{value} is not produced here")

    def inline_graph(self, graph: GraphProto) -> str:
        """Append the nodes of a no-input graph; return its (single) output."""
        self.nodes.extend(graph.node)
        return graph.output[0].name
