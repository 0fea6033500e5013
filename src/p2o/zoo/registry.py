"""The model registry: zoo names → family builder, metadata and reference layout.

The table below is the single list of names. Family modules are imported lazily by
``build``; nothing fills the registry as an import side effect.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from p2o.core.errors import UsageError, did_you_mean

# name → (family, architecture). The ``_ssld`` entries share their base architecture.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("RedNet26", "RedNet", "RedNet26"),
    ("RedNet38", "RedNet", "RedNet38"),
    ("RedNet50", "RedNet", "RedNet50"),
    ("RedNet101", "RedNet", "RedNet101"),
    ("RedNet152", "RedNet", "RedNet152"),
    ("ReXNet_1_0", "ReXNet", "ReXNet_1_0"),
    ("ReXNet_1_3", "ReXNet", "ReXNet_1_3"),
    ("ReXNet_1_5", "ReXNet", "ReXNet_1_5"),
    ("ReXNet_2_0", "ReXNet", "ReXNet_2_0"),
    ("ReXNet_3_0", "ReXNet", "ReXNet_3_0"),
    ("RegNetX_200MF", "RegNet", "RegNetX_200MF"),
    ("RegNetX_400MF", "RegNet", "RegNetX_400MF"),
    ("RegNetX_600MF", "RegNet", "RegNetX_600MF"),
    ("RegNetX_800MF", "RegNet", "RegNetX_800MF"),
    ("RegNetX_1600MF", "RegNet", "RegNetX_1600MF"),
    ("RegNetX_3200MF", "RegNet", "RegNetX_3200MF"),
    ("RegNetX_4GF", "RegNet", "RegNetX_4GF"),
    ("RegNetX_6400MF", "RegNet", "RegNetX_6400MF"),
    ("RegNetX_8GF", "RegNet", "RegNetX_8GF"),
    ("RegNetX_12GF", "RegNet", "RegNetX_12GF"),
    ("RegNetX_16GF", "RegNet", "RegNetX_16GF"),
    ("RegNetX_32GF", "RegNet", "RegNetX_32GF"),
    ("ResNeSt50_fast_1s1x64d", "ResNeSt", "ResNeSt50_fast_1s1x64d"),
    ("ResNeSt50", "ResNeSt", "ResNeSt50"),
    ("ResNeSt101", "ResNeSt", "ResNeSt101"),
    ("ResNeSt200", "ResNeSt", "ResNeSt200"),
    ("ResNeSt269", "ResNeSt", "ResNeSt269"),
    ("Res2Net50_26w_4s", "Res2Net", "Res2Net50_26w_4s"),
    ("Res2Net50_vd_26w_4s", "Res2Net", "Res2Net50_vd_26w_4s"),
    ("Res2Net50_vd_26w_4s_ssld", "Res2Net", "Res2Net50_vd_26w_4s"),
    ("Res2Net50_14w_8s", "Res2Net", "Res2Net50_14w_8s"),
    ("Res2Net101_vd_26w_4s", "Res2Net", "Res2Net101_vd_26w_4s"),
    ("Res2Net101_vd_26w_4s_ssld", "Res2Net", "Res2Net101_vd_26w_4s"),
    ("Res2Net200_vd_26w_4s", "Res2Net", "Res2Net200_vd_26w_4s"),
    ("Res2Net200_vd_26w_4s_ssld", "Res2Net", "Res2Net200_vd_26w_4s"),
)

_FAMILY_MODULES = {
    "RedNet": "p2o.zoo.rednet",
    "ReXNet": "p2o.zoo.rexnet",
    "RegNet": "p2o.zoo.regnet",
    "ResNeSt": "p2o.zoo.resnest",
    "Res2Net": "p2o.zoo.res2net",
}

WEIGHTS_URL = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/{name}_pretrained.pdparams"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """PaddleClas eval preprocessing: resize, center-crop, normalize, CHW.

    The defaults are the ImageNet ones of every zoo model; a PaddleClas ``inference.yml``
    (see ``p2o.zoo.paddleclas_config``) may set each field.
    """

    resize_short: int | None = 256  # ResizeImage resize_short: the short side, aspect kept
    crop: int | tuple[int, int] | None = 224  # CropImage size: a side or (width, height)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    resize: tuple[int, int] | None = None  # ResizeImage size (width, height), replaces resize_short
    channels: int = 3  # NormalizeImage channel_num: 4 appends a zero channel
    topk: int = 5  # PostProcess Topk
    labels: tuple[str, ...] = ()  # PostProcess label names, class by class
    source: str = "ImageNet default"  # where these values come from

    @property
    def size_hw(self) -> tuple[int, int]:
        """(height, width) of the network input these steps produce."""
        if self.crop is not None:
            w, h = (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
            return int(h), int(w)
        if self.resize is not None:
            return int(self.resize[1]), int(self.resize[0])
        raise ValueError("preprocessing without a crop or a fixed resize has no fixed size")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size_hw)

    @classmethod
    def imagenet(cls, height: int = 224, width: int | None = None) -> Preprocess:
        """The ImageNet default scaled to another input size (short side = crop / 0.875)."""
        width = height if width is None else width
        if (height, width) == (224, 224):
            return cls()
        short = round(min(height, width) * 256 / 224)
        return cls(resize_short=short, crop=width if width == height else (width, height))

    def describe(self) -> str:
        h, w = self.size_hw
        resize = (
            f"resize {self.resize[0]}x{self.resize[1]}"
            if self.resize
            else f"short side {self.resize_short}"
        )
        mean = ",".join(f"{m:g}" for m in self.mean)
        std = ",".join(f"{s:g}" for s in self.std)
        return (
            f"{self.source}: {resize}, crop {w}x{h}, scale {self.scale:.6g}, "
            f"mean {mean}, std {std}, {self.channels} channels"
        )


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows of one published model."""

    name: str
    family: str
    architecture: str
    input_shape: tuple[int, int, int]
    num_classes: int
    params: int
    """Parameters of our network, BatchNorm statistics included (= PaddleClas ``params_all``)."""
    params_without_bn_stats: int
    seed_params_m: float | None
    seed_flops_g: float | None
    seed_top1: float | None
    seed_top5: float | None
    paper_top1: float | None
    weights_url: str
    preprocess: Preprocess = field(default_factory=Preprocess)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _check_table() -> None:
    names = [n for n, _, _ in _TABLE]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RuntimeError(f"duplicate model names in the registry: {dupes}")


_check_table()


def list_models(pattern: str = "*", ignore_case: bool = False) -> list[str]:
    """Zoo names matching an fnmatch ``pattern`` (case-sensitive unless ``ignore_case``).

    Natural order is the published one: family by family, ascending size, as the seed pages
    list them (a digit-wise sort would put RegNetX_4GF before RegNetX_200MF).
    """
    if ignore_case:
        pattern = pattern.lower()
    return [
        n for n, _, _ in _TABLE if fnmatch.fnmatchcase(n.lower() if ignore_case else n, pattern)
    ]


def _entry(name: str) -> tuple[str, str, str]:
    for entry in _TABLE:
        if entry[0] == name:
            return entry
    hint = did_you_mean(name, list_models()) or " (see `p2o list`)"
    raise UsageError(f"unknown model {name!r}{hint}")


@cache
def _seed_tables() -> dict[str, Any]:
    text = resources.files("p2o.zoo").joinpath("data/seed_tables.json").read_text()
    return json.loads(text)


@cache
def reference_layout(name: str) -> dict[str, Any]:
    """PaddleClas's state-dict layout of ``name`` (keys, shapes, dtypes, param totals)."""
    _entry(name)
    path = resources.files("p2o.zoo").joinpath(f"data/state_dicts/{name}.json")
    return json.loads(path.read_text())


def seed_latency(name: str) -> list[dict[str, Any]]:
    """The seed pages' published GPU latency rows of ``name`` (other hardware)."""
    return [r for r in _seed_tables()["latency"] if r["model"] == name]


def model_info(name: str) -> ModelInfo:
    """Metadata of a zoo model; raises UsageError for an unknown name."""
    _, family, arch = _entry(name)
    ref = reference_layout(name)
    seed = _seed_tables()["models"].get(name, {})
    url_name = name[: -len("_ssld")] + "_ssld" if name.endswith("_ssld") else name
    return ModelInfo(
        name=name,
        family=family,
        architecture=arch,
        input_shape=tuple(ref["input_shape"][1:]),  # type: ignore[arg-type]
        num_classes=int(ref["num_classes"]),
        params=int(ref["params_all"]),
        params_without_bn_stats=int(ref["params_without_bn_stats"]),
        seed_params_m=seed.get("params_m"),
        seed_flops_g=seed.get("flops_g"),
        seed_top1=seed.get("top1"),
        seed_top5=seed.get("top5"),
        paper_top1=seed.get("reference_top1"),
        weights_url=WEIGHTS_URL.format(name=url_name),
    )


def build(name: str, num_classes: int = 1000) -> Any:
    """Build the bare network of ``name`` (initial weights from Paddle's default initializers).

    Paddle names parameters from a per-process counter; a fresh name scope gives the same
    names on every build, so exported (and converted) files don't depend on what the
    process built before.
    """
    import paddle

    _, family, arch = _entry(name)
    module = importlib.import_module(_FAMILY_MODULES[family])
    with paddle.utils.unique_name.guard():
        return module.build(arch, num_classes=num_classes)


def layout_mismatches(state_dict: dict[str, Any], name: str) -> list[str]:
    """Differences between a state dict and PaddleClas's layout of ``name``; empty means equal.

    Keys, order, shapes and dtypes are compared.
    """
    ref = reference_layout(name)["state_dict"]
    problems: list[str] = []
    ours = {k: (list(v.shape), str(v.dtype).replace("paddle.", "")) for k, v in state_dict.items()}
    theirs = {k: (list(shape), dtype) for k, shape, dtype in ref}
    missing = [k for k in theirs if k not in ours]
    unexpected = [k for k in ours if k not in theirs]
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:8])}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}")
    for k, (shape, dtype) in theirs.items():
        if k in ours and ours[k] != (shape, dtype):
            problems.append(f"{k}: ours {ours[k]} vs PaddleClas {(shape, dtype)}")
    if not missing and not unexpected and list(ours) != list(theirs):
        problems.append("same keys but in a different order")
    return problems
