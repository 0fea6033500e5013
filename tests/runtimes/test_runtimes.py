"""The runners on a tiny Conv+ReLU+Gemm classifier, and the GPU runners' availability logic.

One network, three forms: a Paddle layer exported with ``paddle.jit.save``, an ONNX graph
written with ``onnx.helper`` from the same weights, and a numpy computation of both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from p2o.core.errors import EnvironmentProblem, UsageError
from p2o.core.tolerance import ParityReport, RuntimeResult, compare_all, compare_outputs
from p2o.runtimes import onnxruntime as ort_mod
from p2o.runtimes import registry
from p2o.runtimes.base import Availability
from p2o.runtimes.onnxruntime import OrtCpuRunner, OrtCudaRunner, OrtTensorRTRunner
from p2o.runtimes.openvino import OpenVinoRunner
from p2o.runtimes.paddle import PaddlePlainRunner, PaddleRunner
from tests.tiny import export_tiny_net

SHAPE = (3, 6, 6)
CLASSES = 10
FUNC_DOMAIN = "ai.p2o.test"


def _numpy_forward(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """Conv 3x3 (pad 1) + bias → ReLU → flatten → x @ W + b, in float64."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    conv = np.einsum("ncHWij,ocij->noHW", windows, w["conv_w"].astype(np.float64))
    act = np.maximum(conv + w["conv_b"][None, :, None, None], 0.0)
    return act.reshape(len(x), -1) @ w["fc_w"].astype(np.float64) + w["fc_b"]


def _onnx_model(w: dict[str, np.ndarray], *, relu_function: bool = False) -> onnx.ModelProto:
    relu = (
        helper.make_node("LocalRelu", ["c"], ["r"], domain=FUNC_DOMAIN)
        if relu_function
        else helper.make_node("Relu", ["c"], ["r"])
    )
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1]),
        relu,
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *SHAPE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()],
    )
    opsets = [helper.make_opsetid("", 17)]
    functions = []
    if relu_function:
        opsets.append(helper.make_opsetid(FUNC_DOMAIN, 1))
        body = [helper.make_node("Relu", ["i"], ["o"])]
        functions.append(
            helper.make_function(
                FUNC_DOMAIN, "LocalRelu", ["i"], ["o"], body, [helper.make_opsetid("", 17)]
            )
        )
    model = helper.make_model(graph, opset_imports=opsets, functions=functions)
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tiny")
    net = export_tiny_net(root / "paddle", 7, CLASSES, SHAPE)
    params = [p.numpy() for p in net.parameters()]
    w = dict(zip(["conv_w", "conv_b", "fc_w", "fc_b"], params, strict=True))
    paths = {}
    for name, model in {
        "plain": _onnx_model(w),
        "function": _onnx_model(w, relu_function=True),
        "scaled": _onnx_model({**w, "fc_w": w["fc_w"] * np.float32(1.01)}),
    }.items():
        paths[name] = root / f"{name}.onnx"
        onnx.save(model, str(paths[name]))
    x = np.random.default_rng(0).normal(size=(4, *SHAPE)).astype(np.float32)
    return {"paddle": root / "paddle", "onnx": paths, "x": x, "ref": _numpy_forward(x, w)}


# --- the runners agree with numpy -------------------------------------------------------


def test_ort_cpu_matches_numpy(tiny: dict[str, Any]) -> None:
    r = OrtCpuRunner(tiny["onnx"]["plain"], threads=1)
    out = r.run(tiny["x"])
    assert r.input_names == ["x"] and r.output_names == ["y"]
    assert list(out) == ["y"] and out["y"].dtype == np.float32
    c = compare_outputs(tiny["ref"], out["y"], 1e-5)
    assert c, c.reason
    assert r.build_seconds is not None and r.build_seconds > 0
    s = r.settings
    assert s["threads"] == 1 and s["precision"] == "fp32" and s["inter_op_threads"] == 1
    assert s["provider"] == "CPUExecutionProvider" and s["execution_mode"] == "sequential"
    assert s["graph_optimization"] == "all"


@pytest.mark.parametrize("static_shapes", [False, True])
@pytest.mark.parametrize("model", ["plain", "function"])
def test_openvino_matches_numpy(tiny: dict[str, Any], model: str, static_shapes: bool) -> None:
    r = OpenVinoRunner(tiny["onnx"][model], static_shapes=static_shapes)
    out = r.run({"x": tiny["x"]})
    assert r.input_names == ["x"] and r.output_names == ["y"]
    c = compare_outputs(tiny["ref"], out["y"], 1e-5)
    assert c, c.reason
    assert r.settings["config"] == {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2}
    one = r.run(tiny["x"][:1])["y"]  # a dynamic-batch model takes another batch
    assert compare_outputs(tiny["ref"][:1], one, 1e-5)


def test_openvino_needs_the_inlining(tiny: dict[str, Any]) -> None:
    import openvino as ov

    with pytest.raises(Exception, match="LocalRelu"):
        ov.Core().read_model(str(tiny["onnx"]["function"]))
    r = OpenVinoRunner(tiny["onnx"]["function"], static_shapes=True)
    r.run(tiny["x"])
    r.run(tiny["x"][:2])
    assert r.build_seconds is not None and r.build_seconds > 0


def test_ort_runs_local_functions(tiny: dict[str, Any]) -> None:
    out = OrtCpuRunner(tiny["onnx"]["function"]).run(tiny["x"])
    assert compare_outputs(tiny["ref"], out["y"], 1e-5)


@pytest.mark.parametrize("cls", [PaddleRunner, PaddlePlainRunner])
def test_paddle_runners_match_numpy(tiny: dict[str, Any], cls: type) -> None:
    r = cls(tiny["paddle"])
    out = r.run(tiny["x"])
    assert len(out) == 1
    c = compare_outputs(tiny["ref"], next(iter(out.values())), 1e-5)
    assert c, c.reason
    assert r.settings["onednn"] is (cls is PaddleRunner)


def _report(tiny: dict[str, Any], onnx_file: str) -> ParityReport:
    reference = PaddleRunner(tiny["paddle"]).run(tiny["x"])
    results = []
    for name in ("paddle-plain", "ort-cpu", "openvino", "ort-cuda"):
        cls = registry.get(name)
        avail = cls.availability()
        if not avail:
            results.append(RuntimeResult.skipped(name, avail.reason))
            continue
        source = tiny["paddle"] if registry.kind(name) == "paddle" else tiny["onnx"][onnx_file]
        runner = registry.create(name, source)
        comparisons = compare_all(reference, runner.run(tiny["x"]), 1e-4)
        results.append(
            RuntimeResult.from_outputs(
                name, comparisons, settings=runner.settings, build_seconds=runner.build_seconds
            )
        )
    return ParityReport("tiny", 1e-4, "paddle", results)


def test_parity_of_the_tiny_model_passes(tiny: dict[str, Any]) -> None:
    report = _report(tiny, "plain")
    assert report, report.reason
    assert report.exit_code == 0
    assert {r.runtime for r in report.results if r} == {"paddle-plain", "ort-cpu", "openvino"}


def test_weight_scaled_by_1_01_fails_parity(tiny: dict[str, Any]) -> None:
    report = _report(tiny, "scaled")
    assert not report and report.exit_code == 1
    failed = {r.runtime for r in report.results if r.status == "failed"}
    assert failed == {"ort-cpu", "openvino"}
    assert "ort-cpu failed" in report.reason


# --- usage errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "precision"),
    [
        (OrtCpuRunner, "fp16"),
        (OrtCudaRunner, "fp16"),
        (OrtTensorRTRunner, "tf32"),
        (OpenVinoRunner, "int8"),
    ],
)
def test_unsupported_precision_is_a_usage_error(cls: type, precision: str) -> None:
    with pytest.raises(UsageError, match="precision"):
        cls("model.onnx", precision=precision)


@pytest.mark.parametrize("cls", [OrtCpuRunner, OpenVinoRunner])
def test_missing_model_file_is_a_usage_error(cls: type, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        cls(tmp_path / "absent.onnx").build()


# --- availability: what is missing, said exactly -----------------------------------------


@pytest.mark.parametrize("cls", [OrtCudaRunner, OrtTensorRTRunner])
def test_gpu_runners_say_why_they_cannot_run_here(cls: type) -> None:
    avail = cls.availability()
    if avail:
        pytest.skip(f"{cls.name} is available on this machine")
    assert avail.reason
    assert cls.provider in avail.reason or "GPU" in avail.reason


@pytest.mark.parametrize("module", ["onnxruntime", "openvino"])
def test_missing_package(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    cls = OrtCpuRunner if module == "onnxruntime" else OpenVinoRunner
    avail = cls.availability()
    assert not avail and f"{module} is not installed" in avail.reason
    with pytest.raises(EnvironmentProblem, match="not installed"):
        cls("model.onnx").build()


def _fake_providers(monkeypatch: pytest.MonkeyPatch, providers: list[str]) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(providers))


def _no_nvidia(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(ort_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(ort_mod.glob, "glob", lambda pattern: [])


def test_provider_not_compiled_in(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_providers(monkeypatch, ["CPUExecutionProvider"])
    for cls in (OrtCudaRunner, OrtTensorRTRunner):
        avail = cls.availability()
        assert not avail
        assert f"{cls.provider} is not compiled into the installed onnxruntime" in avail.reason
        assert "p2o-proof[gpu]" in avail.reason


GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_provider_compiled_in_but_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_providers(monkeypatch, GPU_BUILD)
    _no_nvidia(monkeypatch)
    for cls in (OrtCudaRunner, OrtTensorRTRunner):
        avail = cls.availability()
        assert not avail and avail.reason.startswith("no NVIDIA GPU")
        with pytest.raises(EnvironmentProblem, match="no NVIDIA GPU"):
            cls("model.onnx").build()


def test_nvidia_smi_failing_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_providers(monkeypatch, GPU_BUILD)
    _no_nvidia(monkeypatch)
    monkeypatch.setattr(ort_mod.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    monkeypatch.setattr(ort_mod.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    said = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."

    def failing(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 9, stdout=said + "\n", stderr="")

    monkeypatch.setattr(ort_mod.subprocess, "run", failing)
    avail = OrtCudaRunner.availability()
    assert not avail and "couldn't communicate with the NVIDIA driver" in avail.reason


def test_gpu_found_by_nvidia_smi_or_device_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_providers(monkeypatch, GPU_BUILD)
    _no_nvidia(monkeypatch)
    monkeypatch.setattr(ort_mod.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    line = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"

    def ok(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 0, stdout=line + "\n", stderr="")

    monkeypatch.setattr(ort_mod.subprocess, "run", ok)
    assert OrtCudaRunner.availability() and ort_mod.gpu_presence().reason == line
    monkeypatch.setattr(ort_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(ort_mod.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    monkeypatch.setattr(ort_mod, "tensorrt_presence", lambda: ort_mod.Availability(True))
    assert OrtTensorRTRunner.availability()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    avail = OrtTensorRTRunner.availability()
    assert not avail and "CUDA_VISIBLE_DEVICES" in avail.reason


def test_tensorrt_provider_without_tensorrt_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """onnxruntime-gpu lists the TensorRT provider without TensorRT: that is no TensorRT."""
    _fake_providers(monkeypatch, GPU_BUILD)
    monkeypatch.setattr(ort_mod, "gpu_presence", lambda: ort_mod.Availability(True, "GPU 0"))
    monkeypatch.setattr(ort_mod.optional, "installed", lambda module: False)
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    assert OrtCudaRunner.availability()
    avail = OrtTensorRTRunner.availability()
    assert not avail and avail.reason.startswith("TensorRT is not installed")
    (tmp_path / "libnvinfer.so.10").write_bytes(b"")
    assert OrtTensorRTRunner.availability()


class _SessionSpy:
    """Records what the runner asks of onnxruntime.InferenceSession, then asks it for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import onnxruntime

        self.calls: list[dict[str, Any]] = []
        real = onnxruntime.InferenceSession

        def spy(path: str, **kw: Any) -> Any:
            self.calls.append(kw)
            return real(path, **kw)

        monkeypatch.setattr(onnxruntime, "InferenceSession", spy)

    @property
    def providers(self) -> dict[str, dict[str, str]]:
        kw = self.calls[-1]
        return dict(zip(kw["providers"], kw["provider_options"], strict=True))


def _pretend_gpu(monkeypatch: pytest.MonkeyPatch) -> _SessionSpy:
    """onnxruntime claims CUDA and TensorRT, a GPU is 'present'; sessions really are CPU."""
    _fake_providers(monkeypatch, GPU_BUILD)
    monkeypatch.setattr(ort_mod, "gpu_presence", lambda: Availability(True, "GPU 0: fake"))
    monkeypatch.setattr(ort_mod, "tensorrt_presence", lambda: Availability(True, "fake"))
    return _SessionSpy(monkeypatch)


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_cuda_session_that_fell_back_to_cpu_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tiny: dict[str, Any]
) -> None:
    spy = _pretend_gpu(monkeypatch)
    runner = OrtCudaRunner(tiny["onnx"]["plain"])
    assert runner.availability()
    with pytest.raises(EnvironmentProblem, match="fell back to \\['CPUExecutionProvider'\\]"):
        runner.run(tiny["x"])
    assert list(spy.providers) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert spy.providers["CUDAExecutionProvider"] == {"device_id": "0", "use_tf32": "0"}
    assert runner.build_seconds is None  # never built, never ran


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_cuda_tf32_only_when_asked(monkeypatch: pytest.MonkeyPatch, tiny: dict[str, Any]) -> None:
    spy = _pretend_gpu(monkeypatch)
    with pytest.raises(EnvironmentProblem, match="fell back"):
        OrtCudaRunner(tiny["onnx"]["plain"], precision="tf32", device_id=1).build()
    assert spy.providers["CUDAExecutionProvider"] == {"device_id": "1", "use_tf32": "1"}


@pytest.mark.filterwarnings("ignore:Specified provider")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_options_and_fallback(
    monkeypatch: pytest.MonkeyPatch, tiny: dict[str, Any], tmp_path: Path, precision: str
) -> None:
    # Record the variable as absent, so that whatever the runner sets is undone afterwards.
    monkeypatch.setenv(ort_mod.TF32_ENV, "placeholder")
    monkeypatch.delenv(ort_mod.TF32_ENV)
    spy = _pretend_gpu(monkeypatch)
    cache = tmp_path / "engines"
    runner = OrtTensorRTRunner(tiny["onnx"]["plain"], precision=precision, engine_cache=cache)
    with pytest.raises(EnvironmentProblem, match="instead of TensorrtExecutionProvider"):
        runner.build()
    assert list(spy.providers) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    trt = spy.providers["TensorrtExecutionProvider"]
    assert trt["trt_fp16_enable"] == ("1" if precision == "fp16" else "0")
    assert trt["trt_int8_enable"] == ("1" if precision == "int8" else "0")
    assert trt["trt_engine_cache_enable"] == "1"
    assert trt["trt_engine_cache_path"] == str(cache) and cache.is_dir()
    assert spy.providers["CUDAExecutionProvider"]["use_tf32"] == "0"
    import os

    assert os.environ.get(ort_mod.TF32_ENV) == ("0" if precision != "fp16" else None)


def test_tensorrt_without_engine_cache() -> None:
    opts = OrtTensorRTRunner("model.onnx").trt_options()
    assert opts["trt_engine_cache_enable"] == "0" and "trt_engine_cache_path" not in opts
    assert opts["trt_fp16_enable"] == "0"


# --- the registry --------------------------------------------------------------------------


def test_registry_names_and_kinds() -> None:
    assert list(registry.RUNTIMES) == [
        "paddle",
        "paddle-plain",
        "ort-cpu",
        "ort-cuda",
        "ort-trt",
        "openvino",
    ]
    assert registry.names("paddle") == ["paddle", "paddle-plain"]
    assert registry.names("onnx") == ["ort-cpu", "ort-cuda", "ort-trt", "openvino"]
    assert registry.get("ort-cpu") is OrtCpuRunner
    assert registry.kind("openvino") == "onnx" and registry.kind("paddle-plain") == "paddle"
    assert registry.precisions("ort-trt") == ("fp32", "fp16", "int8")
    assert registry.precisions("paddle") == ("fp32",)
    assert isinstance(registry.create("ort-cpu", "m.onnx", threads=3), OrtCpuRunner)


def test_registry_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        registry.get("ort")
    for name in registry.RUNTIMES:
        assert name in str(info.value)
    with pytest.raises(UsageError):
        registry.kind("tensorrt")
    with pytest.raises(UsageError):
        registry.names("tflite")


def test_availability_table(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = registry.availability_table()
    assert [r[0] for r in rows] == list(registry.RUNTIMES)
    table = {name: avail for name, _, avail in rows}
    assert table["ort-cpu"] and table["openvino"] and table["paddle"]
    assert all(avail or avail.reason for avail in table.values())

    def broken(cls: type) -> Availability:
        raise RuntimeError("plugin exploded")

    monkeypatch.setattr(OpenVinoRunner, "availability", classmethod(broken))
    table = {name: avail for name, _, avail in registry.availability_table()}
    assert not table["openvino"] and "plugin exploded" in table["openvino"].reason


@pytest.mark.parametrize(("precision", "hint"), [("fp16", "f16"), ("bf16", "bf16")])
def test_openvino_reduced_precision_is_read_back(
    tiny: dict[str, Any], precision: str, hint: str
) -> None:
    r = OpenVinoRunner(tiny["onnx"]["plain"], precision=precision)
    assert r.settings["config"]["INFERENCE_PRECISION_HINT"] == hint
    try:
        out = r.run(tiny["x"])
    except EnvironmentProblem as exc:  # this CPU has no native `hint`: OpenVINO substitutes
        assert f"asked for {hint} inference but OpenVINO compiled" in str(exc)
        return
    assert not compare_outputs(tiny["ref"], out["y"], 1e-5)  # reduced precision shows
    assert compare_outputs(tiny["ref"], out["y"], 5e-2)


def test_openvino_without_cpu_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import openvino

    class NoCpuCore:
        available_devices = ("NPU",)

    monkeypatch.setattr(openvino, "Core", NoCpuCore)
    assert OpenVinoRunner.availability()  # installed; the device is asked on build
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(EnvironmentProblem, match="no CPU device"):
        OpenVinoRunner(model).build()
