"""Per-layer error of a reduced artifact, and keeping its worst nodes in float.

The fp32 model and the reduced one (an INT8 QDQ or fp16 artifact made from it) share node and
tensor names: the quantizer inserts ``QuantizeLinear``/``DequantizeLinear`` pairs between
nodes (the ``DequantizeLinear`` output stands for the float tensor its ``QuantizeLinear``
read) and the fp16 pass inserts ``Cast`` nodes, leaving the computing nodes' names and their
outputs' names alone. So each reduced node's output can be compared with the same tensor of
the fp32 model on the same images.

A node's **added error** is the cosine distance (1 - mean per-sample cosine, as the agreement
rule measures logits) of its output, minus that of the worst of its inputs *before* the
node's own input quantization (the tensor its ``QuantizeLinear`` reads): what quantizing this
node's inputs and weights costs, beyond what reaches it from upstream. Ranking nodes by it is
what the accuracy-aware INT8 pass does before keeping the worst ones in float
(``keep_float``), fewest first, until the agreement rule passes (``search``).

Engines run through ONNX Runtime directly, as every proof of the converter does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import NodeProto, helper

from p2o.converter.passes.functions import drop_dead_nodes
from p2o.core.agreement import judge, measure
from p2o.core.errors import CheckFailed, UsageError
from p2o.core.results import Agreement, AgreementRule, LayerError, LayerErrorReport

QDQ = ("QuantizeLinear", "DequantizeLinear")
PASS_THROUGH = (*QDQ, "Cast")
BATCH = 4  # samples per run when every intermediate tensor is an output (memory)
# What one run may return at once, both models together: past it, the tensors are fetched in
# groups, a run each, from the same sessions (so the same numbers, at a run per group). With
# every tensor in one run, RedNet152's per-layer table peaked at 21.8 GB of 24 GiB.
FETCH_BYTES = 8 * 2**30
RANK_SAMPLES = 32  # images the search ranks nodes on (it judges on all of them)


def _producers(model: onnx.ModelProto) -> dict[str, NodeProto]:
    return {o: n for n in model.graph.node for o in n.output if o}


def _initializers(model: onnx.ModelProto) -> set[str]:
    return {t.name for t in model.graph.initializer}


def source_tensor(name: str, producers: dict[str, NodeProto]) -> str:
    """The float tensor ``name`` stands for: back through DequantizeLinear, QuantizeLinear and
    Cast to the tensor the first of them read."""
    node = producers.get(name)
    while node is not None and node.op_type in PASS_THROUGH and node.input:
        name = node.input[0]
        node = producers.get(name)
    return name


def reduced_nodes(reduced: onnx.ModelProto, fp32: onnx.ModelProto) -> list[NodeProto]:
    """The nodes of ``reduced`` that compute in its reduced precision and exist in ``fp32``.

    INT8 (QDQ): every node reading a DequantizeLinear output (the quantizable nodes). fp16:
    every node of the fp32 model's that is still there (the pass's Casts excluded).
    """
    names = {n.name for n in fp32.graph.node if n.name}
    producers = _producers(reduced)
    qdq = any(n.op_type == "DequantizeLinear" for n in reduced.graph.node)
    out = []
    for node in reduced.graph.node:
        if node.op_type in PASS_THROUGH or node.name not in names or not node.output:
            continue
        if qdq and not any(
            producers.get(i) is not None and producers[i].op_type == "DequantizeLinear"
            for i in node.input
        ):
            continue
        out.append(node)
    return out


def _as_consumed(model: onnx.ModelProto) -> dict[str, str]:
    """Tensor -> the DequantizeLinear output that stands for it after its QuantizeLinear."""
    readers: dict[str, list[NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    out = {}
    for n in model.graph.node:
        if n.op_type != "QuantizeLinear" or not n.input:
            continue
        dqs = [r for r in readers.get(n.output[0], []) if r.op_type == "DequantizeLinear"]
        if dqs and n.input[0] not in out:
            out[n.input[0]] = dqs[0].output[0]
    return out


def _with_outputs(model: onnx.ModelProto, names: Iterable[str]) -> bytes:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    present = {o.name for o in m.graph.output}
    for name in names:
        if name not in present:
            m.graph.output.append(helper.ValueInfoProto(name=name))
            present.add(name)
    return m.SerializeToString()


def _session(model: onnx.ModelProto | bytes, threads: int = 0) -> object:
    import onnxruntime as ort  # heavy optional engine

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def _feed_name(model: onnx.ModelProto) -> str:
    inits = _initializers(model)
    feeds = [i.name for i in model.graph.input if i.name not in inits]
    if len(feeds) != 1:
        raise UsageError(f"per-layer error wants a model with one input, got {len(feeds)}")
    return feeds[0]


def _batch(sess: object, default: int) -> int:
    """``default``, or the model's fixed batch size when its input has one."""
    dim = sess.get_inputs()[0].shape[0]  # type: ignore[attr-defined]
    return dim if isinstance(dim, int) and dim > 0 else default


def run(model: onnx.ModelProto | bytes, x: np.ndarray, batch: int = 16) -> np.ndarray:
    """The model's first output on ``x``, ``batch`` samples per run (ONNX Runtime CPU)."""
    sess = _session(model)
    name = sess.get_inputs()[0].name  # type: ignore[attr-defined]
    batch = _batch(sess, batch)
    parts = [
        sess.run(None, {name: x[i : i + batch]})[0]  # type: ignore[attr-defined]
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(parts)


def tensors(model: onnx.ModelProto, names: list[str], x: np.ndarray) -> list[np.ndarray]:
    """The tensors ``names`` of ``model`` on ``x``, in one run (ONNX Runtime CPU)."""
    sess = _session(_with_outputs(model, names))
    feed = sess.get_inputs()[0].name  # type: ignore[attr-defined]
    return list(sess.run(names, {feed: x}))  # type: ignore[attr-defined]


def _merge(parts: list[tuple[int, Agreement]]) -> tuple[float, float, float]:
    n = sum(k for k, _ in parts)
    cosine = sum(k * a.cosine for k, a in parts) / n
    return cosine, min(a.min_cosine for _, a in parts), max(a.range_error for _, a in parts)


def _groups(
    pairs: list[tuple[str, str]], s_ref: Any, s_red: Any, feed: str, one: np.ndarray, step: int
) -> list[list[tuple[str, str]]]:
    """``pairs`` split so that one run of ``step`` samples returns at most ``FETCH_BYTES`` of
    both models' tensors (measured by one run of each on ``one`` sample); one group when all
    fit, as before."""
    nbytes: list[dict[str, int]] = []
    for sess, side in ((s_ref, 0), (s_red, 1)):
        names = sorted({p[side] for p in pairs})
        outs = sess.run(names, {feed: one})
        nbytes.append({n: int(o.nbytes) for n, o in zip(names, outs, strict=True)})
        del outs
    sizes = {p: (nbytes[0][p[0]] + nbytes[1][p[1]]) * step for p in pairs}
    if sum(sizes.values()) <= FETCH_BYTES:
        return [pairs]
    groups: list[list[tuple[str, str]]] = [[]]
    held = 0
    for p in pairs:
        if groups[-1] and held + sizes[p] > FETCH_BYTES:
            groups.append([])
            held = 0
        groups[-1].append(p)
        held += sizes[p]
    return groups


def layer_errors(
    fp32: onnx.ModelProto,
    reduced: onnx.ModelProto,
    x: np.ndarray,
    *,
    precision: str,
    reference: str = "fp32 model",
    inputs: str = "",
    kept_float: Sequence[str] = (),
) -> LayerErrorReport:
    """Every reduced node of ``reduced`` with the error it adds on ``x``, largest first."""
    nodes = reduced_nodes(reduced, fp32)
    producers = _producers(reduced)
    seen = _as_consumed(reduced)
    skip = _initializers(reduced) | _initializers(fp32) | {i.name for i in reduced.graph.input}
    fp32_names = {o for n in fp32.graph.node for o in n.output}
    # (fp32 tensor, reduced tensor): a node's output as its consumers read it (after its
    # QuantizeLinear/DequantizeLinear pair, where an activation the quantizer folded into the
    # pair is applied), and each input as the node reads it
    twins = {n.name: n for n in fp32.graph.node if n.name}
    outputs = {
        n.name: (
            n.output[0] if n.output[0] in fp32_names else twins[n.name].output[0],
            seen.get(n.output[0], n.output[0]),
        )
        for n in nodes
    }
    reads = {n.name: [(source_tensor(i, producers), i) for i in n.input if i] for n in nodes}
    pairs = sorted(
        {p for p in outputs.values() if p[0] in fp32_names}
        | {
            p
            for ins in reads.values()
            for p in ins
            if p[0] not in skip and p[0] in fp32_names and p[1] not in skip
        }
    )
    if not pairs:  # nothing matches by name: not made from this fp32 model
        return LayerErrorReport(precision, reference, inputs, len(x), [], len(nodes))
    s_ref = _session(_with_outputs(fp32, sorted({a for a, _ in pairs})))
    s_red = _session(_with_outputs(reduced, sorted({b for _, b in pairs})))
    feed = _feed_name(fp32)
    parts: dict[tuple[str, str], list[tuple[int, Agreement]]] = {p: [] for p in pairs}
    step = _batch(s_ref, BATCH)
    for group in _groups(pairs, s_ref, s_red, feed, x[:1], step):
        ref_names = sorted({a for a, _ in group})
        red_names = sorted({b for _, b in group})
        for i in range(0, len(x), step):
            chunk = x[i : i + step]
            a = dict(zip(ref_names, s_ref.run(ref_names, {feed: chunk}), strict=True))  # type: ignore[attr-defined]
            b = dict(zip(red_names, s_red.run(red_names, {feed: chunk}), strict=True))  # type: ignore[attr-defined]
            for p in group:
                parts[p].append((len(chunk), measure(a[p[0]], b[p[1]])))
    merged = {p: _merge(v) for p, v in parts.items() if v}
    kept = set(kept_float)
    rows = []
    for n in nodes:
        out = outputs[n.name]
        if out not in merged:
            continue
        cosine, min_cosine, range_error = merged[out]
        up = min((merged[p][0] for p in reads[n.name] if p in merged), default=1.0)
        added = (1.0 - cosine) - (1.0 - up)
        rows.append(
            LayerError(
                n.name,
                n.op_type,
                out[0],
                cosine,
                min_cosine,
                range_error,
                up,
                added,
                n.name in kept,
            )
        )
    rows.sort(key=lambda e: (-e.added, e.node))
    return LayerErrorReport(precision, reference, inputs, len(x), rows, len(nodes))


def keep_float(
    reduced: onnx.ModelProto, fp32: onnx.ModelProto, names: Iterable[str]
) -> onnx.ModelProto:
    """``reduced`` with the nodes ``names`` reading the fp32 model's float inputs again.

    Each named node gets its fp32 twin's inputs (the float tensors before quantization and
    the float weights and biases); the Q/DQ nodes and quantized initializers nobody reads any
    more are removed. Consumers of the node's output stay quantized.
    """
    twins = {n.name: n for n in fp32.graph.node if n.name}
    fp32_inits = {t.name: t for t in fp32.graph.initializer}
    out = onnx.ModelProto()
    out.CopyFrom(reduced)
    have = _initializers(out)
    produced = {o for n in out.graph.node for o in n.output}
    fp32_producers = _producers(fp32)
    red_producers = _producers(out)
    wanted = set(names)
    for node in out.graph.node:
        if node.name not in wanted:
            continue
        twin = twins.get(node.name)
        if twin is None:
            raise ValueError(f"node {node.name!r} is not in the fp32 model")
        inputs = []
        for j, i in enumerate(twin.input):
            if i in fp32_inits and i in produced:  # the quantizer named its DQ output so
                name = f"{i}_float"
                if name not in have:
                    t = onnx.TensorProto()
                    t.CopyFrom(fp32_inits[i])
                    t.name = name
                    out.graph.initializer.append(t)
                    have.add(name)
                inputs.append(name)
            elif i in fp32_inits:
                if i not in have:
                    out.graph.initializer.append(fp32_inits[i])
                    have.add(i)
                inputs.append(i)
            elif i in fp32_producers and (
                i not in red_producers or red_producers[i].name != fp32_producers[i].name
            ):
                # the quantizer folded the activation that makes this tensor (a Relu/Clip)
                # into the QuantizeLinear that follows: only the dequantized tensor has it
                inputs.append(node.input[j])
            else:
                inputs.append(i)
        del node.input[:]
        node.input.extend(inputs)
    drop_dead_nodes(out.graph)
    used = {i for n in out.graph.node for i in n.input} | {o.name for o in out.graph.output}
    keep = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(keep)
    return out


class BudgetExceeded(CheckFailed):
    """The accuracy-aware pass kept its whole budget of nodes float and the rule still failed.

    ``why``: one line; ``report``: the per-layer table, the nodes of the last try marked
    ``kept_float``, which the message lists after ``why``; ``best``: the agreement of that try
    on the judging images.
    """

    def __init__(
        self, why: str, report: LayerErrorReport | None = None, best: Agreement | None = None
    ) -> None:
        table = f"; the nodes adding the most error:\n{report.table()}" if report else ""
        super().__init__(why + table)
        self.why, self.report, self.best = why, report, best


@dataclass(frozen=True)
class Search:
    """What the accuracy-aware search found (``search``)."""

    model: onnx.ModelProto
    kept_float: list[str]
    plain: Agreement  # the artifact before any node was kept float
    final: Agreement
    budget: int  # at most this many nodes may stay float
    quantizable: int
    attempts: list[tuple[str, int, Agreement]]  # (ranking, nodes kept float, agreement) per try
    report: LayerErrorReport | None  # the per-layer error (None: the plain artifact passed)
    ranking: str = ""  # the ranking whose worst nodes were kept float ("": none needed)


RANKINGS = ("added error", "depth")
"""The orders in which the search keeps nodes float, the first that passes within the budget
wins. ``added error``: the largest first (each node's own cost, ``layer_errors``). ``depth``:
the nodes nearest the input first, whose error every later layer carries and amplifies; on
ReXNet_1_0 the error accrues over the depthwise blocks so that no node adds much on its own:
with MinMax, its first 18 quantizable nodes (of 185) kept float reach a cosine of 0.987 on the
judging crops, its 18 largest 0.971 (docs/precision.md)."""


def with_margin(rule: AgreementRule, samples: int) -> AgreementRule:
    """``rule`` with its two rates (top-1 agreement, top-5 containment) raised by one binomial
    standard error at ``samples`` images: what the search aims at. The fewest nodes that pass on
    the judging crops sit at the rule's edge, and an edge measured on 64 images is +-6 points
    of top-1: ReXNet_2_0 passed there at 71.9 % and failed verify's crops at 65.6 %
    (docs/precision.md)."""

    def raised(rate: float) -> float:
        return min(1.0, rate + math.sqrt(rate * (1.0 - rate) / max(samples, 1)))

    return rule.with_overrides(min_top1=raised(rule.min_top1), min_top5=raised(rule.min_top5))


def search(
    fp32: onnx.ModelProto,
    reduced: onnx.ModelProto,
    x: np.ndarray,
    rule: AgreementRule,
    max_float: float,
    inputs: str = "",
    ref: np.ndarray | None = None,
) -> Search:
    """Keep the fewest nodes of ``reduced`` in float so that ``rule`` passes on ``x`` against
    ``fp32``'s own outputs; at most ``max_float`` of the quantizable nodes.

    The plain artifact is judged by ``rule``; the tries by ``with_margin(rule)``. For each of
    ``RANKINGS`` in turn: tries 1, 2, 4, ... of its first nodes, then bisects between the last
    failing and the first passing count. Raises ``BudgetExceeded`` (exit 1), with the per-layer
    table, when neither passes within the budget. ``ref``: ``fp32``'s outputs on ``x``, when the
    caller has them already.
    """
    rule = rule.with_overrides(min_samples=min(rule.min_samples, len(x)))
    ref = run(fp32, x) if ref is None else ref
    plain = measure(ref, run(reduced, x))
    quantizable = reduced_nodes(reduced, fp32)
    budget = int(np.floor(max_float * len(quantizable) + 1e-9))
    if not judge(plain, rule):
        return Search(reduced, [], plain, plain, budget, len(quantizable), [("", 0, plain)], None)
    report = layer_errors(fp32, reduced, x[:RANK_SAMPLES], precision=rule.precision, inputs=inputs)
    aim = with_margin(rule, len(x))
    orders = {
        RANKINGS[0]: [e.node for e in report.layers],
        RANKINGS[1]: [n.name for n in quantizable],
    }
    attempts: list[tuple[str, int, Agreement]] = [("", 0, plain)]
    tried: dict[tuple[str, int], tuple[onnx.ModelProto, Agreement]] = {}
    for ranking, order in orders.items():

        def passes(k: int, ranking: str = ranking, order: list[str] = order) -> bool:
            model = keep_float(reduced, fp32, order[:k])
            m = measure(ref, run(model, x))
            tried[(ranking, k)] = (model, m)
            attempts.append((ranking, k, m))
            return not judge(m, aim)

        k, last = _fewest(passes, min(budget, len(order)))
        if k is not None:
            model, final = tried[(ranking, k)]
            kept = order[:k]
            return Search(
                model,
                kept,
                plain,
                final,
                budget,
                len(quantizable),
                attempts,
                _marked(report, kept),
                ranking,
            )
    best = max((m for _, k, m in attempts if k == last), key=lambda m: m.cosine)
    raise BudgetExceeded(
        f"int8: keeping {last} of {len(quantizable)} quantizable nodes float (the budget: "
        f"{max_float:.0%}), by either ranking ({' or '.join(RANKINGS)}), still misses the "
        f"{rule.precision} rule with its margin on {inputs or 'the images'} "
        f"({'; '.join(judge(best, aim))})",
        _marked(report, orders[RANKINGS[0]][:last]),
        best,
    )


def _fewest(passes: Callable[[int], bool], limit: int) -> tuple[int | None, int]:
    """The fewest ``k`` in 1..``limit`` for which ``passes(k)``, trying 1, 2, 4, ... then
    ``limit``, then bisecting; ``(None, the last k tried)`` when none passes."""
    low, high, k = 0, None, 1
    while k <= limit and high is None:
        if passes(k):
            high = k
        else:
            low, k = k, 2 * k
    if high is None and low < limit:
        if passes(limit):
            high = limit
        else:
            low = limit
    if high is None:
        return None, low
    while high - low > 1:
        mid = (low + high) // 2
        if passes(mid):
            high = mid
        else:
            low = mid
    return high, low


def _marked(report: LayerErrorReport, kept: list[str]) -> LayerErrorReport:
    """``report`` with the nodes ``kept`` float marked so."""
    names = set(kept)
    layers = [LayerError(**{**e.to_dict(), "kept_float": e.node in names}) for e in report.layers]
    return dataclasses.replace(report, layers=layers)
