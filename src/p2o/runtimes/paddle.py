"""Paddle Inference, the reference engine (CPU with or without oneDNN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from p2o.converter.source import PaddleModelFiles, find_paddle_model
from p2o.core import optional
from p2o.runtimes.base import Availability, Runner


class PaddleRunner(Runner):
    """Paddle Inference on CPU; ``onednn=True`` uses oneDNN (MKLDNN) kernels."""

    name = "paddle"
    description = "Paddle Inference, CPU, oneDNN kernels"

    def __init__(self, model_path: Any, *, onednn: bool = True, **kw: Any) -> None:
        super().__init__(model_path, **kw)
        self.onednn = onednn

    @classmethod
    def availability(cls) -> Availability:
        if not optional.installed("paddle"):  # asked without importing Paddle (seconds)
            return Availability(False, optional.missing("paddle"))
        return Availability(True)

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, "onednn": self.onednn}

    def _build(self) -> Any:
        from paddle import inference

        files = self.model_path  # a folder, or the located files of any name
        if not isinstance(files, PaddleModelFiles):
            files = find_paddle_model(self.model_path)
        config = inference.Config(str(files.model_file), str(files.params_file))
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(self.threads)
        if self.onednn:
            config.enable_mkldnn()
        else:
            config.disable_mkldnn()
        config.disable_glog_info()
        config.switch_ir_optim(True)
        predictor = inference.create_predictor(config)
        self.input_names = list(predictor.get_input_names())
        self.output_names = list(predictor.get_output_names())
        return predictor

    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        p = self._session
        for name in self.input_names:
            p.get_input_handle(name).copy_from_cpu(feed[name])
        p.run()
        return [p.get_output_handle(n).copy_to_cpu() for n in self.output_names]


class PaddlePlainRunner(PaddleRunner):
    """Paddle Inference on CPU with its plain (non-oneDNN) kernels."""

    name = "paddle-plain"
    description = "Paddle Inference, CPU, plain kernels (oneDNN off)"

    def __init__(self, model_path: Any, **kw: Any) -> None:
        kw.pop("onednn", None)
        super().__init__(model_path, onednn=False, **kw)
