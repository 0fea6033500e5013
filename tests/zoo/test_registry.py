from __future__ import annotations

import json
from pathlib import Path

import pytest

from p2o.core.errors import UsageError
from p2o.zoo import list_models, model_info, registry

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tables.json"


def test_all_35_names_in_published_order():
    names = list_models()
    seed = registry._seed_tables()["models"]
    assert names == list(seed)
    assert len(names) == 35


def test_pattern_is_fnmatch():
    assert list_models("RedNet*") == ["RedNet26", "RedNet38", "RedNet50", "RedNet101", "RedNet152"]
    assert list_models("*_ssld") == [
        "Res2Net50_vd_26w_4s_ssld",
        "Res2Net101_vd_26w_4s_ssld",
        "Res2Net200_vd_26w_4s_ssld",
    ]
    assert list_models("nothing*") == []


def test_ssld_shares_architecture_but_not_url():
    info = model_info("Res2Net50_vd_26w_4s_ssld")
    base = model_info("Res2Net50_vd_26w_4s")
    assert info.architecture == base.name
    assert info.params == base.params
    assert info.weights_url.endswith("/Res2Net50_vd_26w_4s_ssld_pretrained.pdparams")
    assert base.weights_url.endswith("/Res2Net50_vd_26w_4s_pretrained.pdparams")


def test_model_info_fields():
    info = model_info("ReXNet_1_3")
    assert info.family == "ReXNet"
    assert info.input_shape == (3, 224, 224)
    assert info.seed_top1 == pytest.approx(79.13)
    assert info.preprocess.crop == 224 and info.preprocess.resize_short == 256
    assert tuple(info.to_dict()["preprocess"]["mean"]) == (0.485, 0.456, 0.406)


def test_unknown_name_is_a_usage_error_with_a_hint():
    with pytest.raises(UsageError, match="did you mean RedNet50"):
        model_info("rednet50")
    with pytest.raises(UsageError, match="unknown model"):
        model_info("ResNet50")


@pytest.mark.skipif(not SHARED.exists(), reason="shared reference folder not beside the checkout")
def test_package_data_equals_shared_reference():
    ours = json.loads(
        registry.resources.files("p2o.zoo").joinpath("data/seed_tables.json").read_text()
    )
    assert ours == json.loads(SHARED.read_text())


def test_layout_checker_fails_on_a_wrong_state_dict():
    import numpy as np

    ref = registry.reference_layout("RegNetX_200MF")["state_dict"]
    good = {k: np.zeros(s, dtype=d) for k, s, d in ref}
    assert registry.layout_mismatches(good, "RegNetX_200MF") == []
    bad = dict(good)
    first = next(iter(bad))
    bad[first] = np.zeros([1, 2, 3], "float32")
    del bad[list(bad)[-1]]
    bad["extra.weight"] = np.zeros([1], "float32")
    problems = "\n".join(registry.layout_mismatches(bad, "RegNetX_200MF"))
    assert "missing keys" in problems and "unexpected keys (1): extra.weight" in problems
    assert first in problems
    reordered = dict(reversed(list(good.items())))
    assert registry.layout_mismatches(reordered, "RegNetX_200MF") == [
        "same keys but in a different order"
    ]
