"""The ai.p2o::Involution op: its function body against a literal numpy reference."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from p2o.converter import simplify
from p2o.converter.ops import involution as inv
from p2o.converter.passes.functions import all_nodes
from tests.numerics import OP_TOLERANCE, assert_parity

TOL = OP_TOLERANCE


def reference(
    x: np.ndarray,
    kernel: np.ndarray,
    kernel_size: int,
    stride: int,
    groups: int,
    *,
    transposed_taps: bool = False,
    pad: int | None = None,
    pad_mode: str = "constant",
    interleaved_groups: bool = False,
) -> np.ndarray:
    """out[n, g*Cg+c, h, w] = sum_ij xpad[n, g*Cg+c, h*s+i, w*s+j] * kernel[n, g*K*K+i*K+j, h, w].

    The keyword arguments make deliberately wrong variants for the negative checks.
    """
    n, channels, _, _ = x.shape
    k, s = kernel_size, stride
    cg = channels // groups
    p = (k - 1) // 2 if pad is None else pad
    ho, wo = kernel.shape[2:]
    xpad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)), mode=pad_mode)
    out = np.zeros((n, channels, ho, wo))
    for channel in range(channels):
        g = channel % groups if interleaved_groups else channel // cg
        for i, j in itertools.product(range(k), range(k)):
            tap = g * k * k + (j * k + i if transposed_taps else i * k + j)
            window = xpad[:, channel, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]
            out[:, channel] += window * kernel[:, tap]
    return out


def out_size(size: int, kernel_size: int, stride: int) -> int:
    p = (kernel_size - 1) // 2
    return (size + 2 * p - kernel_size) // stride + 1


class Case:
    """One involution node with its own inputs ``x{i}``/``k{i}`` and output ``y{i}``."""

    def __init__(
        self,
        index: int,
        kernel_size: int,
        stride: int,
        groups: int,
        cg: int,
        hw: tuple[int, int],
        batch: int = 2,
        seed: int = 0,
        body: str | None = None,
    ) -> None:
        self.index, self.kernel_size, self.stride = index, kernel_size, stride
        self.body = body  # None: attach picks it (choose_body)
        self.groups, self.cg = groups, cg
        h, w = hw
        ho, wo = out_size(h, kernel_size, stride), out_size(w, kernel_size, stride)
        rng = np.random.default_rng(seed + 100 * index)
        self.x = rng.standard_normal((batch, groups * cg, h, w)).astype(np.float32)
        self.kernel = rng.standard_normal((batch, groups * kernel_size**2, ho, wo)).astype(
            np.float32
        )

    def node(self) -> onnx.NodeProto:
        i = self.index
        node = inv.make_node(
            f"x{i}",
            f"k{i}",
            f"y{i}",
            kernel_size=self.kernel_size,
            stride=self.stride,
            groups=self.groups,
            group_channels=self.cg,
            name=f"involution{i}",
        )
        return node if self.body is None else inv.set_body(node, self.body)

    def values(self) -> tuple[list[onnx.ValueInfoProto], onnx.ValueInfoProto]:
        i, f = self.index, TensorProto.FLOAT
        n, c, _, _ = self.x.shape
        ho, wo = self.kernel.shape[2:]
        ins = [
            helper.make_tensor_value_info(f"x{i}", f, list(self.x.shape)),
            helper.make_tensor_value_info(f"k{i}", f, list(self.kernel.shape)),
        ]
        return ins, helper.make_tensor_value_info(f"y{i}", f, [n, c, ho, wo])

    def feed(self) -> dict[str, np.ndarray]:
        return {f"x{self.index}": self.x, f"k{self.index}": self.kernel}

    def expected(self, **wrong: object) -> np.ndarray:
        return reference(self.x, self.kernel, self.kernel_size, self.stride, self.groups, **wrong)  # type: ignore[arg-type]


def build(
    cases: list[Case], opset: int = 17, configs: list[tuple[int, int]] | None = None
) -> onnx.ModelProto:
    ins, outs = [], []
    for case in cases:
        i, o = case.values()
        ins += i
        outs.append(o)
    graph = helper.make_graph([c.node() for c in cases], "involutions", ins, outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    model = inv.attach(model)
    if configs is not None:  # only these get a specialised branch
        del model.functions[:]
        model.functions.extend(inv.function_protos(configs, opset))
    return model


def run(
    model: onnx.ModelProto,
    cases: list[Case],
    level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed: dict[str, np.ndarray] = {}
    for case in cases:
        feed.update(case.feed())
    return sess.run([f"y{c.index}" for c in cases], feed)


def max_error(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got.astype(np.float64) - want).max())


@pytest.mark.parametrize("body", inv.BODIES)
@pytest.mark.parametrize("hw", [(15, 13), (16, 14), (5, 4)])
@pytest.mark.parametrize(("kernel_size", "stride"), [(3, 1), (3, 2), (7, 1), (7, 2)])
def test_function_matches_reference(
    kernel_size: int, stride: int, hw: tuple[int, int], body: str
) -> None:
    case = Case(0, kernel_size, stride, groups=2, cg=4, hw=hw, body=body)
    model = build([case])
    assert inv.configs_of(model.graph.node) == [(kernel_size, stride, body)]
    (got,) = run(model, [case])
    assert_parity(got, case.expected(), TOL)


@pytest.mark.parametrize("body", inv.BODIES)
def test_every_body_equals_the_unfold_lowering(body: str) -> None:
    """Each body against the generic Gather unfold (paddle2onnx's lowering, as a branch), by
    the converter's proof rule, on a RedNet-like layer (16 channels per group, 14x14, K=7)."""
    cases = [
        Case(0, 7, 1, 4, 16, (14, 14), 1, body=body),
        Case(1, 7, 2, 4, 16, (14, 14), 1, 1, body),
    ]
    lowering = run(build(cases, configs=[]), cases)  # every node on the generic branch
    proof = simplify.outputs_equal(lowering, run(build(cases), cases))
    assert proof, proof.describe()


def _broken(branch: Callable[..., onnx.GraphProto]) -> Callable[..., onnx.GraphProto]:
    """A deliberately wrong body: its first product (a tap, a tap column or the whole product;
    not shape arithmetic) negated. Shapes stay right, the numbers do not."""

    def wrong(c: inv.Config, x4: str, k4: str) -> onnx.GraphProto:
        graph = branch(c, x4, k4)
        constants = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
        products = [n for n in graph.node if n.op_type == "MatMul"] or [
            n for n in graph.node if n.op_type == "Mul" and not constants & set(n.input)
        ]
        value = products[0].output[0]
        for node in graph.node:
            node.input[:] = [f"{value}_neg" if i == value else i for i in node.input]
        neg = helper.make_node("Neg", [value], [f"{value}_neg"])
        graph.node.insert(list(graph.node).index(products[0]) + 1, neg)
        return graph

    return wrong


@pytest.mark.parametrize("body", inv.BODIES)
def test_a_wrong_body_fails_the_proof(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [Case(0, 7, 1, 4, 16, (14, 14), 1, body=body)]
    lowering = run(build(cases, configs=[]), cases)
    monkeypatch.setitem(inv._BRANCHES, body, _broken(inv._BRANCHES[body]))
    proof = simplify.outputs_equal(lowering, run(build(cases), cases))
    assert not proof
    assert max_error(run(build(cases), cases)[0], cases[0].expected()) > 1e-2


def test_choose_body() -> None:
    assert inv.choose_body(7, 1, 56) == "rows"
    assert inv.choose_body(7, 2, 28) == inv.choose_body(7, 2, 56) == "band"  # 28 wide out
    assert inv.choose_body(7, 2, 58) == "rows"  # 29 wide out
    assert inv.choose_body(7, 1, None) == "rows"  # width unknown
    assert inv.choose_body(3, 1, inv.BAND_MAX_WIDTH + 1) == "rows"
    assert inv.choose_body(3, 1, inv.BAND_MAX_WIDTH) == "band"
    assert inv.choose_body(1, 1, 7) == inv.choose_body(1, 1, 112) == "taps"
    assert inv.choose_body(7, 1, 56, "gpu") == inv.choose_body(3, 2, 7, "gpu") == "unfold"
    # OpenVINO: the shifted taps where ONNX Runtime gets the row stack
    assert inv.choose_body(7, 1, 56, "openvino") == inv.choose_body(7, 1, None, "openvino")
    assert inv.choose_body(7, 1, 56, "openvino") == "taps"
    assert inv.choose_body(7, 2, 56, "openvino") == inv.choose_body(7, 1, 28, "openvino")
    assert inv.choose_body(7, 2, 56, "openvino") == "band"
    with pytest.raises(ValueError, match="target"):
        inv.choose_body(7, 1, 7, "tpu")
    node = inv.make_node(
        "x", "k", "y", kernel_size=3, stride=1, groups=1, group_channels=1, name="n"
    )
    with pytest.raises(ValueError, match="body"):
        inv.set_body(node, "fast")


def test_the_converter_offers_every_target() -> None:
    """``p2o convert --involution-body`` lists ``choose_body``'s targets (kept apart so the
    CLI does not import onnx)."""
    from p2o.converter.pipeline import INVOLUTION_BODIES

    assert INVOLUTION_BODIES == inv.TARGETS


@pytest.mark.parametrize(
    ("target", "bodies"),
    [("cpu", ["rows", "band"]), ("gpu", ["unfold"] * 2), ("openvino", ["taps", "band"])],
)
def test_attach_picks_each_body_from_the_widths(target: str, bodies: list[str]) -> None:
    """Widths flow through involutions: a 56-wide stride-1 layer, then a stride-2 layer on
    its 56-wide output (28 wide out: banded; unknown, it would get the row stack)."""
    f = TensorProto.FLOAT
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 32, 56, 56)).astype(np.float32)
    k1 = rng.standard_normal((1, 2 * 49, 56, 56)).astype(np.float32)
    k2 = rng.standard_normal((1, 2 * 49, 28, 28)).astype(np.float32)
    nodes = [
        inv.make_node(
            "x", "k1", "h", kernel_size=7, stride=1, groups=2, group_channels=16, name="a"
        ),
        inv.make_node(
            "h", "k2", "y", kernel_size=7, stride=2, groups=2, group_channels=16, name="b"
        ),
    ]
    ins = [
        helper.make_tensor_value_info(n, f, list(v.shape))
        for n, v in [("x", x), ("k1", k1), ("k2", k2)]
    ]
    out = helper.make_tensor_value_info("y", f, [1, 32, 28, 28])
    graph = helper.make_graph(nodes, "chain", ins, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    inv.attach(model, target=target)
    assert [inv.body_of(n) for n in model.graph.node] == bodies
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"x": x, "k1": k1, "k2": k2})
    want = reference(reference(x, k1, 7, 1, 2).astype(np.float32), k2, 7, 2, 2)
    assert_parity(got, want, TOL)


def test_model_with_several_configurations() -> None:
    cases = [
        Case(0, 7, 1, 2, 4, (15, 13)),
        Case(1, 7, 2, 4, 2, (15, 13)),
        Case(2, 3, 1, 1, 8, (15, 13)),
        Case(3, 7, 1, 4, 2, (9, 11)),
    ]
    model = build(cases)
    onnx.checker.check_model(model, full_check=True)
    assert [(f.domain, f.name, f.overload) for f in model.functions] == [
        (inv.DOMAIN, inv.OP_TYPE, "")
    ]
    assert all(n.overload == "" for n in model.graph.node)
    assert inv.configs_of(model.graph.node) == [(3, 1, "band"), (7, 1, "band"), (7, 2, "band")]
    for case, got in zip(cases, run(model, cases), strict=True):
        assert_parity(got, case.expected(), TOL)


def test_unlisted_configuration_runs_the_generic_branch() -> None:
    cases = [
        Case(0, 7, 2, 2, 4, (15, 13)),
        Case(1, 5, 3, 2, 2, (10, 9)),
        Case(2, 1, 1, 2, 2, (4, 5)),
    ]
    model = build(cases, configs=[(3, 1)])
    for case, got in zip(cases, run(model, cases), strict=True):
        assert_parity(got, case.expected(), TOL)


@pytest.mark.parametrize("body", inv.BODIES)
def test_onnxruntime_folds_the_dispatch(tmp_path: Path, body: str) -> None:
    cases = [Case(0, 7, 1, 2, 4, (15, 13), body=body), Case(1, 7, 2, 2, 4, (15, 13), body=body)]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(build(cases).SerializeToString(), so, providers=["CPUExecutionProvider"])
    nodes = onnx.load(so.optimized_model_filepath).graph.node
    assert not {n.op_type for n in nodes} & {"If", "Involution"}
    generic = [n for n in nodes if any("generic_" in v for v in n.output)]
    assert not generic  # the generic branch's unfold is gone
    assert any(f"s1{body}_" in v for n in nodes for v in n.output)  # the taken branch stays


@pytest.mark.parametrize("opset", [13, 18, 21])
def test_other_opsets(opset: int) -> None:
    cases = [Case(0, 7, 2, 2, 4, (15, 13)), Case(1, 3, 1, 2, 4, (15, 13))]
    model = build(cases, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    for case, got in zip(cases, run(model, cases), strict=True):
        assert_parity(got, case.expected(), TOL)


def test_inline_removes_the_custom_domain_and_keeps_the_numbers() -> None:
    cases = [
        Case(0, 7, 1, 2, 4, (15, 13)),
        Case(1, 7, 2, 2, 4, (16, 14)),
        Case(2, 3, 1, 2, 4, (15, 13)),
    ]
    model = build(cases)
    inlined = inv.inline(model)
    onnx.checker.check_model(inlined, full_check=True)
    nodes = list(all_nodes(inlined.graph))
    assert not inlined.functions
    assert all(n.domain in ("", "ai.onnx") for n in nodes)
    assert inv.DOMAIN not in {o.domain for o in inlined.opset_import}
    assert "If" not in {n.op_type for n in nodes}
    disabled = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for case, a, b in zip(cases, run(model, cases), run(inlined, cases, disabled), strict=True):
        assert_parity(b, case.expected(), TOL)
        assert_parity(b, a, 1e-6)
    # onnx's own inliner (If left in place) agrees as well
    plain = onnx.inliner.inline_local_functions(model)
    for case, got in zip(cases, run(plain, cases, disabled), strict=True):
        assert_parity(got, case.expected(), TOL)


def test_inline_can_give_every_node_another_body() -> None:
    """What p2o's OpenVINO runner does (its fastest body, whatever the converter picked)."""
    cases = [
        Case(0, 7, 1, 2, 4, (15, 13), body="rows"),
        Case(1, 7, 2, 2, 4, (16, 14), body="band"),
    ]
    model = build(cases)
    inlined = inv.inline(model, body="taps")
    values = [v for n in inlined.graph.node for v in n.output]
    assert any("taps_" in v for v in values)
    assert not any("rows_" in v or "band_" in v for v in values)
    asked = [inv.body_of(n) for n in model.graph.node if n.op_type == inv.OP_TYPE]
    assert asked == ["rows", "band"]  # the model itself is left as it was
    disabled = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for case, got in zip(cases, run(inlined, cases, disabled), strict=True):
        assert_parity(got, case.expected(), TOL)


def test_inline_can_pick_the_bodies_for_another_target() -> None:
    """What p2o's OpenVINO runner does: each node re-picked for OpenVINO from its width,
    whatever the converter picked (here: rows on a 30-wide map, taps on a 13-wide one)."""
    cases = [
        Case(0, 7, 1, 2, 4, (6, 30), body="rows"),
        Case(1, 7, 1, 2, 4, (15, 13), body="taps"),
    ]
    model = build(cases)
    inlined = inv.inline(model, target="openvino")
    values = [v for n in inlined.graph.node for v in n.output]
    assert any("taps_" in v for v in values) and any("band_" in v for v in values)
    assert not any("rows_" in v for v in values)
    asked = [inv.body_of(n) for n in model.graph.node if n.op_type == inv.OP_TYPE]
    assert asked == ["rows", "taps"]  # the model itself is left as it was
    disabled = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for case, got in zip(cases, run(inlined, cases, disabled), strict=True):
        assert_parity(got, case.expected(), TOL)


def test_openvino_runs_the_inlined_model(tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino")
    cases = [
        Case(0, 7, 1, 2, 4, (15, 13)),
        Case(1, 7, 2, 2, 4, (15, 13)),
        Case(2, 3, 1, 2, 4, (15, 13)),
    ]
    path = tmp_path / "inlined.onnx"
    onnx.save(inv.inline(build(cases)), path)
    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    feed: dict[str, np.ndarray] = {}
    for case in cases:
        feed.update(case.feed())
    result = compiled(feed)
    for case in cases:
        assert_parity(result[f"y{case.index}"], case.expected(), TOL)


@pytest.mark.parametrize(
    "wrong",
    [
        {"transposed_taps": True},  # kernel taps read as j*K + i
        {"pad_mode": "edge"},  # border replicated instead of zeros
        {"pad": 4},  # padding one too large: every window shifts by one pixel
        {"interleaved_groups": True},  # channel c in group c % G instead of c // Cg
    ],
    ids=["tap-order", "pad-mode", "pad-size", "group-layout"],
)
def test_wrong_references_do_not_match(wrong: dict[str, object]) -> None:
    """The comparison is sharp enough to see index-order and padding mistakes."""
    case = Case(0, 7, 1, groups=2, cg=4, hw=(15, 13))
    (got,) = run(build([case]), [case])
    assert_parity(got, case.expected(), TOL)
    assert max_error(got, case.expected(**wrong)) > 1e-2


def test_make_node_rejects_bad_attributes() -> None:
    with pytest.raises(ValueError, match="odd"):
        inv.make_node("x", "k", "y", kernel_size=4, stride=1, groups=1, group_channels=1, name="n")
    with pytest.raises(ValueError, match="stride"):
        inv.make_node("x", "k", "y", kernel_size=3, stride=0, groups=1, group_channels=1, name="n")
    with pytest.raises(ValueError, match="opset"):
        inv.function_protos([(3, 1)], opset=12)


@pytest.mark.parametrize("tool", ["onnxsim", "onnxslim"])
def test_simplifiers_keep_the_function(tool: str) -> None:
    """Two configurations survive simplification (onnxslim would merge overloads)."""
    module = pytest.importorskip(tool)
    cases = [Case(0, 7, 1, 2, 4, (15, 13)), Case(1, 7, 2, 2, 4, (15, 13))]
    model = build(cases)
    simplified = module.simplify(model)[0] if tool == "onnxsim" else module.slim(model)
    assert [f.name for f in simplified.functions] == [inv.OP_TYPE]
    for case, got in zip(cases, run(simplified, cases), strict=True):
        assert_parity(got, case.expected(), TOL)


def test_openvino_runner_inlines_a_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inlined copy comes from p2o's cache on a repeat; a changed file is inlined again;
    with the cache off nothing is read or written."""
    pytest.importorskip("openvino")
    from p2o.core import cache
    from p2o.runtimes import openvino as ovr

    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "cache"))
    calls: list[int] = []
    real = ovr._inline
    monkeypatch.setattr(ovr, "_inline", lambda m: calls.append(1) or real(m))
    cases = [Case(0, 7, 1, 2, 4, (15, 13), body="rows"), Case(1, 7, 2, 2, 4, (16, 14))]
    path = tmp_path / "model.onnx"

    def run_once() -> None:
        out = ovr.OpenVinoRunner(path).run({k: v for c in cases for k, v in c.feed().items()})
        for case in cases:
            assert_parity(out[f"y{case.index}"], case.expected(), TOL)

    onnx.save(build(cases), path)
    run_once()
    run_once()
    assert len(calls) == 1
    assert set(cache.info().kinds) == {"openvino_inlined"}
    cases[1] = Case(1, 3, 1, 2, 4, (16, 14))  # another model in the same file
    onnx.save(build(cases), path)
    run_once()
    assert len(calls) == 2
    cache.clear()
    cache.set_enabled(False)
    try:
        run_once()
    finally:
        cache.set_enabled(None)
    assert len(calls) == 3 and cache.info().kinds == {}
