"""The pipeline's own checks: every proof against an independent input, every check wrapped."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from p2o.converter import ConvertOptions, convert, pipeline
from p2o.converter import align_groups as pass_
from p2o.core.errors import CheckFailed

NAME = "RegNetX_200MF"


def test_a_stage_that_runs_twice_keeps_both_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([0.0, 1.0, 10.0, 13.0, 20.0, 20.5])
    clock = lambda: next(ticks)  # noqa: E731
    try:
        stages = pipeline._Stages(clock)
    except TypeError:  # e051b5f: no clock to inject; its stages read time.perf_counter
        monkeypatch.setattr(pipeline.time, "perf_counter", clock)
        stages = pipeline._Stages()
    with stages("check"):
        pass
    with stages("check"):
        pass
    with stages("simplify"):
        pass
    assert stages.seconds == {"check": 4.0, "simplify": 0.5}


@pytest.mark.slow
def test_the_second_checker_call_is_a_check_failure_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = onnx.checker.check_model
    calls = []

    def second_rejects(model, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise onnx.checker.ValidationError("made-up rejection of the simplified model")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(onnx.checker, "check_model", second_rejects)
    with pytest.raises(CheckFailed, match="made-up rejection"):
        convert(ConvertOptions(NAME, out_dir=tmp_path / "out", simplifier="none"))
    assert len(calls) == 2 and not (tmp_path / "out").exists()


def _scale_output_in_place(model: onnx.ModelProto, factor: float) -> None:
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{o}.unscaled" if o == out else o for o in node.output]
    const = onnx.helper.make_tensor("scale.factor", onnx.TensorProto.FLOAT, [], [factor])
    model.graph.initializer.append(const)
    model.graph.node.append(
        onnx.helper.make_node("Mul", [f"{out}.unscaled", "scale.factor"], [out])
    )


@pytest.mark.slow
def test_align_groups_without_simplifier_is_still_proved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--simplifier none` hands the unsimplified graph itself to the in-place alignment pass: the
    proof must compare with the outputs from before the pass, not the edited model with itself."""

    def wrong_in_place(model: onnx.ModelProto, block: int) -> pass_.AlignReport:
        _scale_output_in_place(model, 1.01)
        return pass_.AlignReport(block, 1.15, (pass_.Widened("conv", 2, 8, 16),), ())

    monkeypatch.setattr(pipeline, "align_groups_pass", wrong_in_place)
    with pytest.raises(CheckFailed, match="aligning grouped convolutions changed"):
        convert(ConvertOptions(NAME, out_dir=tmp_path / "out", simplifier="none", align_groups=16))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_identity_is_in_the_metadata_and_deterministic(tmp_path: Path) -> None:
    a = convert(ConvertOptions(NAME, out_dir=tmp_path / "a", simplifier="none"))
    b = convert(ConvertOptions(NAME, out_dir=tmp_path / "b", simplifier="none"))
    assert a.onnx_path.read_bytes() == b.onnx_path.read_bytes()
    from p2o.converter.manifest import read_identity

    ident = read_identity(onnx.load(str(a.onnx_path)))
    assert ident["p2o.model"] == NAME
    assert ident["p2o.weights_sha256"] == a.manifest.source["weights_sha256"]
    assert json.loads(ident["p2o.options"]) == a.manifest.options
    proofs = a.manifest.equivalence["proofs"]
    assert set(proofs) == {"simplify"} and proofs["simplify"]["min_tolerance"] == 0.0
