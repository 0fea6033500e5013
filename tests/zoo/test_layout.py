"""Every zoo network's state dict equals PaddleClas's layout, so official weights load as-is."""

from __future__ import annotations

import numpy as np
import pytest

from p2o.zoo import list_models, model_info, registry
from p2o.zoo.weights import _classifier


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_state_dict_layout_equals_paddleclas(name):
    model = registry.build(name)
    sd = model.state_dict()
    assert registry.layout_mismatches(sd, name) == []
    total = sum(int(np.prod(v.shape)) for v in sd.values())
    assert total == model_info(name).params
    # the contract synthetic weights rely on
    norms = model.residual_branch_norms()
    assert norms and all(hasattr(n, "_variance") for n in norms)
    # synthetic weights scale the classifier: it must be the layer with the 1000 outputs
    w = _classifier(model).weight
    assert (w.shape[1] if len(w.shape) == 2 else w.shape[0]) == model_info(name).num_classes
