"""RegNetX zoo family: paper parametrization, PaddleClas layout, forward, residual norms."""

from __future__ import annotations

import re

import numpy as np
import paddle
import pytest

from p2o.zoo import registry, regnet

NAMES = registry.list_models("RegNetX_*")


def _plan_from_reference(name: str) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per stage, read off the reference state-dict layout."""
    stages: dict[int, dict[int, tuple[int, int]]] = {}
    for key, shape, _ in registry.reference_layout(name)["state_dict"]:
        m = re.fullmatch(r"s(\d)_b(\d+)\.conv1\._conv\.weight", key)
        if m:
            stages.setdefault(int(m[1]), {})[int(m[2])] = (shape[0], shape[1])
    return [(blocks[1][0], len(blocks), blocks[1][1]) for _, blocks in sorted(stages.items())]


@pytest.mark.parametrize("name", NAMES)
def test_paper_parametrization_gives_reference_stages(name: str) -> None:
    assert regnet.stage_plan(*regnet._CONFIGS[name]) == _plan_from_reference(name)


def test_200mf_layout_forward_and_residual_norms() -> None:
    paddle.seed(0)
    model = regnet.build("RegNetX_200MF")
    model.eval()
    state = model.state_dict()
    assert registry.layout_mismatches(state, "RegNetX_200MF") == []
    params = sum(int(np.prod(v.shape)) for v in state.values())
    assert params == registry.reference_layout("RegNetX_200MF")["params_all"]

    y = model(
        paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 224, 224)), "float32")
    )
    assert y.shape == [2, 1000]
    assert np.isfinite(y.numpy()).all()

    norms = model.residual_branch_norms()
    gammas = [
        v for k, v in state.items() if re.fullmatch(r"s\d_b\d+\.conv2\._batch_norm\.weight", k)
    ]
    assert len(norms) == len(gammas) == 13
    assert all(n.weight is g for n, g in zip(norms, gammas, strict=True))


def test_num_classes_and_unknown_arch() -> None:
    model = regnet.build("RegNetX_400MF", num_classes=10)
    assert model.out.weight.shape == [384, 10]
    with pytest.raises(KeyError):
        regnet.build("RegNetY_200MF")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_layout_equals_paddleclas(name: str) -> None:
    assert registry.layout_mismatches(regnet.build(name).state_dict(), name) == []
