"""ONNX Runtime: the CPU, CUDA and TensorRT execution providers.

Availability says which of three things is missing: the ``onnxruntime`` package, the
execution provider in the installed build (the CPU wheel has no CUDA or TensorRT; the GPU
build, ``pip install p2o-proof[gpu]``, replaces it in its own environment), or an NVIDIA GPU.
ONNX Runtime, when a requested GPU provider fails to load (a missing CUDA, cuDNN or
TensorRT library), logs a warning and runs on the CPU; a session that fell back that way
is an error here (``EnvironmentProblem``), never a run that could pass as the GPU's.

Numerics are pinned for parity: fp32 by default; the CUDA provider's TF32 math is off
unless precision ``"tf32"`` is asked; TensorRT fp32 disables TF32 through the only switch
ONNX Runtime leaves for it, the process-wide ``NVIDIA_TF32_OVERRIDE=0`` (set when unset).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from p2o.core import optional
from p2o.core.errors import EnvironmentProblem, UsageError
from p2o.runtimes.base import Availability, Runner, Split, Step

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
TRT_PROVIDER = "TensorrtExecutionProvider"
TF32_ENV = "NVIDIA_TF32_OVERRIDE"


def gpu_presence() -> Availability:
    """Whether an NVIDIA GPU is visible: ``nvidia-smi -L`` when on PATH, else /dev/nvidia*."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return Availability(False, f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU")
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            proc = subprocess.run(
                [smi, "-L"], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return Availability(False, f"nvidia-smi could not run ({exc})")
        gpus = [line for line in proc.stdout.splitlines() if line.startswith("GPU")]
        if proc.returncode != 0 or not gpus:
            said = (proc.stderr or proc.stdout).strip().splitlines()
            detail = said[0] if said else f"exit status {proc.returncode}"
            return Availability(False, f"nvidia-smi finds no usable GPU ({detail})")
        return Availability(True, gpus[0])
    nodes = sorted(glob.glob("/dev/nvidia[0-9]*"))
    if nodes:
        return Availability(True, f"{nodes[0]} present (no nvidia-smi on PATH)")
    return Availability(False, "no NVIDIA GPU: no /dev/nvidia* device and no nvidia-smi on PATH")


def tensorrt_presence() -> Availability:
    """Whether TensorRT's libraries can be found, without loading them.

    onnxruntime-gpu lists ``TensorrtExecutionProvider`` whether or not TensorRT is there; a
    session asked for it without TensorRT falls back (an error here). So availability also
    asks for TensorRT itself: its pip package, or ``libnvinfer`` on the library path.
    """
    import ctypes.util

    for module in ("tensorrt_libs", "tensorrt"):
        if optional.installed(module):
            return Availability(True, f"the {module} package")
    for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        found = sorted(glob.glob(os.path.join(folder, "libnvinfer.so*"))) if folder else []
        if found:
            return Availability(True, found[0])
    lib = ctypes.util.find_library("nvinfer")
    if lib:
        return Availability(True, lib)
    return Availability(
        False,
        "TensorRT is not installed: no tensorrt package and no libnvinfer on the library "
        "path (install the TensorRT that the onnxruntime-gpu build was made with)",
    )


def _flag(value: bool) -> str:
    return "1" if value else "0"


class _OrtRunner(Runner):
    """ONNX Runtime on one execution provider (``provider``); the shared machinery."""

    provider: ClassVar[str]
    needs_gpu: ClassVar[bool] = False
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def __init__(self, model_path: Any, **kw: Any) -> None:
        super().__init__(model_path, **kw)
        if int(self.threads) < 1:
            raise UsageError(f"{self.name}: threads must be >= 1, got {self.threads}")

    @classmethod
    def availability(cls) -> Availability:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            return Availability(False, f"onnxruntime is not installed ({exc})")
        providers = list(ort.get_available_providers())
        if cls.provider not in providers:
            reason = (
                f"{cls.provider} is not compiled into the installed onnxruntime "
                f"{getattr(ort, '__version__', '?')}, which has {', '.join(providers)}"
            )
            if cls.needs_gpu:
                reason += "; install p2o-proof[gpu] (onnxruntime-gpu) in its own environment"
            return Availability(False, reason)
        if cls.needs_gpu:
            gpu = gpu_presence()
            if not gpu:
                return gpu
        return Availability(True)

    def provider_list(self) -> list[tuple[str, dict[str, str]]]:
        """The providers asked of ONNX Runtime, in priority order, with their options."""
        return [(CPU_PROVIDER, {})]

    @property
    def settings(self) -> dict[str, Any]:
        return {
            **super().settings,
            "provider": self.provider,
            "provider_options": {name: opts for name, opts in self.provider_list()},
            "inter_op_threads": 1,
            "execution_mode": "sequential",
            "graph_optimization": "all",
            "intra_op_spinning": False,
        }

    def _session_options(self) -> Any:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(self.threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # errors only; a provider fallback is checked below
        # Idle pool threads spin ~40 ms after each run by default: on a machine with few
        # cores that time is taken from whatever runs next (measured: up to 2x on the next
        # engine of an interleaved benchmark, and a worse best case for ORT itself).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return so

    def _before_session(self) -> None:
        """Hook run just before the session is created (process settings)."""

    def _build(self) -> Any:
        import onnxruntime as ort

        path = Path(self.model_path)
        if not path.is_file():
            raise UsageError(f"{self.name}: ONNX model not found: {path}")
        self._before_session()
        wanted = self.provider_list()
        session = ort.InferenceSession(
            str(path),
            sess_options=self._session_options(),
            providers=[name for name, _ in wanted],
            provider_options=[opts for _, opts in wanted],
        )
        got = list(session.get_providers())
        if self.provider not in got:
            raise EnvironmentProblem(
                f"{self.name}: onnxruntime silently fell back to {got} instead of "
                f"{self.provider} (its libraries, e.g. CUDA/cuDNN/TensorRT, failed to load); "
                "refusing to report the fallback's results as this runtime's"
            )
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]
        return session

    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        outs = self._session.run(self.output_names, {n: feed[n] for n in self.input_names})
        return [np.asarray(o) for o in outs]


class OrtCpuRunner(_OrtRunner):
    """ONNX Runtime's CPU execution provider."""

    name = "ort-cpu"
    description = "ONNX Runtime, CPUExecutionProvider"
    provider = CPU_PROVIDER


class OrtCudaRunner(_OrtRunner):
    """ONNX Runtime's CUDA execution provider; TF32 off unless precision ``"tf32"``."""

    name = "ort-cuda"
    description = "ONNX Runtime, CUDAExecutionProvider (TF32 off for fp32)"
    provider = CUDA_PROVIDER
    needs_gpu = True
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "tf32")

    def __init__(self, model_path: Any, *, device_id: int = 0, **kw: Any) -> None:
        super().__init__(model_path, **kw)
        self.device_id = int(device_id)

    def cuda_options(self) -> dict[str, str]:
        return {"device_id": str(self.device_id), "use_tf32": _flag(self.precision == "tf32")}

    def provider_list(self) -> list[tuple[str, dict[str, str]]]:
        return [(CUDA_PROVIDER, self.cuda_options()), (CPU_PROVIDER, {})]

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, TF32_ENV: os.environ.get(TF32_ENV)}

    def timed_step(
        self, feed: Mapping[str, np.ndarray], clock: Callable[[], float] = time.perf_counter
    ) -> Step:
        """Timed with IO binding on the device: host→device and device→host copies apart."""
        self.build()
        return _DeviceStep(
            self._session, self.device_id, feed, self.input_names, self.output_names, clock
        )


class _DeviceStep:
    """One inference on the GPU (CUDA or TensorRT provider) with IO binding.

    Per call: copy the inputs to the device (``h2d``, timed apart), bind them and the
    outputs on the device, run and synchronise the device (the latency sample), then copy
    the outputs back (``d2h``, timed apart).
    """

    def __init__(
        self,
        session: Any,
        device_id: int,
        feed: Mapping[str, np.ndarray],
        inputs: list[str],
        outputs: list[str],
        clock: Callable[[], float],
    ) -> None:
        import onnxruntime as ort

        self._ort, self._session, self._device_id = ort, session, int(device_id)
        self._feed = {n: np.ascontiguousarray(feed[n]) for n in inputs}
        self._outputs = list(outputs)
        self._clock = clock

    def __call__(self) -> Split:
        ort, clock, dev = self._ort, self._clock, self._device_id
        t0 = clock()
        on_device = {
            n: ort.OrtValue.ortvalue_from_numpy(x, "cuda", dev) for n, x in self._feed.items()
        }
        t1 = clock()
        binding = self._session.io_binding()
        for n, v in on_device.items():
            binding.bind_ortvalue_input(n, v)
        for n in self._outputs:
            binding.bind_output(n, "cuda", dev)
        binding.synchronize_inputs()
        t2 = clock()
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        t3 = clock()
        binding.copy_outputs_to_cpu()
        t4 = clock()
        return Split(t3 - t2, {"h2d": t1 - t0, "d2h": t4 - t3})


class OrtTensorRTRunner(OrtCudaRunner):
    """ONNX Runtime's TensorRT execution provider (CUDA, then CPU, for what TensorRT leaves).

    fp32 by default (TF32 off through ``NVIDIA_TF32_OVERRIDE=0``), ``precision="fp16"``
    turns on ``trt_fp16_enable``; ``precision="int8"`` turns on ``trt_int8_enable`` for a QDQ
    artifact (``p2o convert --precision int8``): TensorRT then builds INT8 from the model's own
    Q/DQ scales (explicit quantization, no calibration table); layers the QDQ model leaves
    unquantized run fp32. ``engine_cache`` (a folder) keeps built engines.
    """

    name = "ort-trt"
    description = "ONNX Runtime, TensorrtExecutionProvider (fp32 unless fp16 asked)"
    provider = TRT_PROVIDER
    precisions = ("fp32", "fp16", "int8")

    def __init__(
        self, model_path: Any, *, engine_cache: str | Path | None = None, **kw: Any
    ) -> None:
        super().__init__(model_path, **kw)
        self.engine_cache = Path(engine_cache) if engine_cache is not None else None

    @classmethod
    def availability(cls) -> Availability:
        avail = super().availability()
        if not avail:
            return avail
        trt = tensorrt_presence()
        return avail if trt else trt

    def cuda_options(self) -> dict[str, str]:
        return {"device_id": str(self.device_id), "use_tf32": "0"}

    def trt_options(self) -> dict[str, str]:
        opts = {
            "device_id": str(self.device_id),
            "trt_fp16_enable": _flag(self.precision == "fp16"),
            "trt_int8_enable": _flag(self.precision == "int8"),
            "trt_engine_cache_enable": _flag(self.engine_cache is not None),
        }
        if self.engine_cache is not None:
            opts["trt_engine_cache_path"] = str(self.engine_cache)
        return opts

    def provider_list(self) -> list[tuple[str, dict[str, str]]]:
        return [
            (TRT_PROVIDER, self.trt_options()),
            (CUDA_PROVIDER, self.cuda_options()),
            (CPU_PROVIDER, {}),
        ]

    def _before_session(self) -> None:
        if self.engine_cache is not None:
            self.engine_cache.mkdir(parents=True, exist_ok=True)
        if self.precision in ("fp32", "int8"):  # int8: the layers left unquantized
            # TensorRT builds fp32 layers with TF32 on Ampere and later; ONNX Runtime has no
            # per-session switch for it, only this process-wide variable, read as CUDA starts.
            os.environ.setdefault(TF32_ENV, "0")
