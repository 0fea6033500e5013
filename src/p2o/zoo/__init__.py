"""The model zoo: 35 PaddleClas classifiers of five families, weight-compatible.

Public API (stable): ``list_models``, ``model_info``, ``create_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from p2o.zoo import registry
from p2o.zoo import weights as w
from p2o.zoo.registry import ModelInfo, list_models, model_info

__all__ = ["ModelInfo", "create_model", "list_models", "model_info"]

# Synthesis calibrates on real images (seconds to minutes for the largest networks): the
# result is kept in p2o's cache on disk (p2o.core.cache), and convert-then-verify in one process
# reuses the last one from memory.
_SYNTHETIC: dict[tuple[str, int], dict[str, Any]] = {}


def create_model(name: str, weights: str | Path | None = None, seed: int = 0) -> Any:
    """Build zoo model ``name`` in eval mode.

    ``weights=None``: deterministic trained-like synthetic weights from ``seed``;
    ``weights="pretrained"``: the official file, downloaded once into the cache;
    a path: a ``.pdparams`` file, loaded strictly (every key, no extra, same shapes).
    """

    info = model_info(name)  # validates the name before anything heavy
    model = registry.build(name, num_classes=info.num_classes)
    if weights is None:
        key = (info.architecture, seed)
        if key in _SYNTHETIC:
            w.load_strict(model, _SYNTHETIC[key], source=f"synthetic weights of {name}")
        else:
            state = w.synthetic_state(model, info.architecture, seed=seed)
            _SYNTHETIC.clear()  # keep one network's weights: the next call is usually the same
            _SYNTHETIC[key] = state
    else:
        path = w.download_pretrained(name) if str(weights) == "pretrained" else Path(weights)
        w.load_strict(model, w.read_pdparams(path), source=str(path))
    model.eval()
    return model
