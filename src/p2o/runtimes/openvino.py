"""OpenVINO on the CPU, precision pinned.

The CPU plugin's default inference precision is bf16 on CPUs that have it, so the hint is
pinned: ``f32`` for precision fp32, ``bf16`` or ``f16`` when asked. A CPU without native
f16 compiles an f16 request as bf16; the runner reads the compiled model's precision back
and refuses such a substitution (``EnvironmentProblem``) instead of mislabelling it.

OpenVINO's ONNX frontend does not expand model-local functions (p2o's ``ai.p2o``
Involution is one): a model that has functions is inlined with
``onnx.inliner.inline_local_functions`` into a temporary copy, read, and the copy removed.

A model with a dynamic batch is compiled dynamic (the CPU plugin runs any batch; measured
identical to a reshaped static compile). ``static_shapes=True`` instead reshapes the model
to each feed's shapes and compiles one static model per shape (cached), as a device
without dynamic shapes needs; that compile time is added to ``build_seconds``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from p2o.converter import ops, passes
from p2o.core import cache, optional
from p2o.core.errors import EnvironmentProblem, UsageError
from p2o.core.files import temporary_folder
from p2o.runtimes.base import Availability, Runner

DEVICE = "CPU"
# The bodies OpenVINO runs whatever the converter picked for ONNX Runtime: each op mapping's
# "openvino" target (for involution: choose_body's (banded MatMul up to 28 output columns, the
# shifted taps on wider maps), its fastest on whole RedNets (benchmarks/rednet_involution.py
# --runtime openvino; the row stack runs slower there than the stock lowering, taps
# everywhere 1.5x slower than this mix on RedNet50). Every body computes the same numbers,
# and verify checks OpenVINO's against Paddle's.
TARGET = "openvino"
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
PROTOBUF_LIMIT = 2**31 - 1


def _read_onnx(core: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """``core.read_model`` of ``path``, through an inlined copy when it has local functions.

    Returns the OpenVINO model and the ONNX graph's input and output names.
    """
    import onnx

    header = onnx.load(str(path), load_external_data=False)
    inputs = [i.name for i in header.graph.input]
    initializers = {t.name for t in header.graph.initializer}
    inputs = [n for n in inputs if n not in initializers]
    outputs = [o.name for o in header.graph.output]
    if not header.functions:
        return core.read_model(str(path)), inputs, outputs
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in header.graph.initializer)
    if not external and path.stat().st_size < PROTOBUF_LIMIT // 2:
        return core.read_model(_inlined_bytes(path), b""), inputs, outputs

    full = onnx.load(str(path))  # with its external data, from the model's folder
    inlined = _inline(full)
    # read_model holds the ONNX content in memory (external data, only for a copy over
    # protobuf's 2 GiB limit, is memory-mapped, which outlives the file on POSIX).
    with temporary_folder("p2o-ov-") as tmp:
        copy = Path(tmp) / "inlined.onnx"
        large = inlined.ByteSize() >= PROTOBUF_LIMIT
        onnx.save_model(inlined, str(copy), save_as_external_data=large)
        model = core.read_model(str(copy))
    return model, inputs, outputs


def _inline(model: Any) -> Any:
    """The inliner + the functions' constant dispatch resolved, with OpenVINO's fastest bodies."""
    return ops.inline(model, target=TARGET)


def _code_sha256() -> str:
    """The op mappings' and the function passes' code: a change inlines again."""
    h = hashlib.sha256()
    for package in (ops, passes):
        for path in sorted(Path(str(package.__file__)).parent.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _inlined_bytes(path: Path) -> bytes:
    """The serialized inlined model, from the p2o cache when the same file was inlined by
    the same code before (key: the file's SHA-256, the inlining code's, onnx's version)."""
    import onnx

    data = path.read_bytes()

    def compute() -> np.ndarray:
        inlined = _inline(onnx.load_from_string(data)).SerializeToString()
        return np.frombuffer(inlined, dtype=np.uint8)

    key = {
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
        "code_sha256": _code_sha256(),
        "target": TARGET,
        "onnx": onnx.__version__,
    }
    return cache.get_or_compute("openvino_inlined", key, compute).tobytes()


class OpenVinoRunner(Runner):
    """OpenVINO, CPU device, ``INFERENCE_PRECISION_HINT`` and ``INFERENCE_NUM_THREADS`` set."""

    name = "openvino"
    description = "OpenVINO, CPU, f32 precision hint"
    precisions: ClassVar[tuple[str, ...]] = tuple(PRECISION_HINTS)

    def __init__(self, model_path: Any, *, static_shapes: bool = False, **kw: Any) -> None:
        super().__init__(model_path, **kw)
        if self.precision not in PRECISION_HINTS:
            raise UsageError(
                f"{self.name}: precision {self.precision!r} not supported "
                f"(choose from {', '.join(PRECISION_HINTS)})"
            )
        if int(self.threads) < 1:
            raise UsageError(f"{self.name}: threads must be >= 1, got {self.threads}")
        self.static_shapes = static_shapes
        self._core: Any = None
        self._model: Any = None
        self._compiled: dict[tuple[tuple[int, ...], ...] | None, Any] = {}

    @classmethod
    def availability(cls) -> Availability:
        # asked without importing OpenVINO; whether it has a CPU device is checked on build
        if not optional.installed("openvino"):
            return Availability(False, optional.missing("openvino"))
        return Availability(True)

    @property
    def config(self) -> dict[str, Any]:
        """The properties given to ``compile_model``."""
        return {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision],
            "INFERENCE_NUM_THREADS": int(self.threads),
        }

    @property
    def settings(self) -> dict[str, Any]:
        return {
            **super().settings,
            "device": DEVICE,
            "config": self.config,
            "static_shapes": self.static_shapes,
        }

    def _compile(self, model: Any) -> Any:
        # No CACHE_DIR (OpenVINO's cache of compiled models): with it, OpenVINO 2026.4 gave
        # an f16-hinted compile f32 numbers from a blob of the same model compiled at f32,
        # while reporting f16 (tests/runtimes: reduced precision read back).
        compiled = self._core.compile_model(model, DEVICE, self.config)
        wanted = PRECISION_HINTS[self.precision]
        got = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if got != wanted:
            raise EnvironmentProblem(
                f"{self.name}: asked for {wanted} inference but OpenVINO compiled {got} on "
                "this CPU; refusing to report it as the precision asked"
            )
        return compiled.create_infer_request()

    def _build(self) -> Any:
        import openvino as ov

        path = Path(self.model_path)
        if not path.is_file():
            raise UsageError(f"{self.name}: ONNX model not found: {path}")
        self._core = ov.Core()
        try:
            devices = list(self._core.available_devices)
        except Exception as exc:  # the plugin loader raises its own RuntimeError
            raise EnvironmentProblem(f"openvino cannot list its devices ({exc})") from exc
        if DEVICE not in devices:
            raise EnvironmentProblem(f"openvino has no {DEVICE} device (it has {devices})")
        model, self.input_names, self.output_names = _read_onnx(self._core, path)
        self._model = model
        self._compiled.clear()
        if not (self.static_shapes and model.is_dynamic()):
            self._compiled[None] = self._compile(model)
        return model

    def _request(self, feed: dict[str, np.ndarray]) -> Any:
        if None in self._compiled:
            return self._compiled[None]
        key = tuple(tuple(int(d) for d in feed[n].shape) for n in self.input_names)
        if key not in self._compiled:
            t0 = time.perf_counter()
            model = self._model.clone()
            try:
                model.reshape(dict(zip(self.input_names, key, strict=True)))
            except Exception as exc:  # OpenVINO raises RuntimeError on a bad shape
                shapes = dict(zip(self.input_names, key, strict=True))
                raise UsageError(
                    f"{self.name}: cannot reshape the model to {shapes}: {exc}"
                ) from exc
            self._compiled[key] = self._compile(model)
            self.build_seconds = (self.build_seconds or 0.0) + time.perf_counter() - t0
        return self._compiled[key]

    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = self._request(feed)
        results = request.infer({n: feed[n] for n in self.input_names})
        compiled = request.get_compiled_model()
        return [np.array(results[compiled.output(n)]) for n in self.output_names]
