"""PaddleClas's ``inference.yml``: the preprocessing a model was exported with.

PaddleClas 2.6's export writes it beside the model::

    PreProcess:
      transform_ops:
      - ResizeImage: {resize_short: 256}      # or size: 288 / [w, h]
      - CropImage: {size: 224}                # a side or [w, h]
      - NormalizeImage: {scale: 0.00392156862745098, mean: [...], std: [...],
                         order: '', channel_num: 3}
      - ToCHWImage: null
    PostProcess:
      Topk: {topk: 5, label_list: [tench, goldfish, ...]}

``load`` turns it into a ``Preprocess``; anything p2o would feed differently from PaddleClas
(an unknown transform, HWC input, a bad value) is a UsageError naming the file and the step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from p2o.core.errors import UsageError
from p2o.zoo.registry import Preprocess

CONFIG_NAMES = ("inference.yml", "inference.yaml")
KNOWN_OPS = ("ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage")
_IGNORED_OPS = ("DecodeImage",)  # reading the file: p2o decodes images itself (RGB)


def find_config(folder: Path, stem: str) -> Path | None:
    """``<stem>.yml`` or ``inference.yml`` beside a model, if there is one."""
    for name in (f"{stem}.yml", f"{stem}.yaml", *CONFIG_NAMES):
        if (folder / name).is_file():
            return folder / name
    return None


def load(path: str | Path) -> Preprocess:
    """Parse a PaddleClas inference config into the preprocessing p2o feeds with."""
    p = Path(path)
    try:
        import yaml
    except ImportError as exc:  # a declared dependency; say so if it is missing anyway
        raise UsageError(f"reading {p.name} needs PyYAML (pip install pyyaml)") from exc
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{p.name}: not a YAML file ({first})") from exc
    try:
        return parse(doc, p.name)
    except _Bad as exc:
        raise UsageError(f"{p.name}: {exc}") from None


class _Bad(ValueError):
    pass


def parse(doc: Any, source: str = "inference.yml") -> Preprocess:
    """A loaded ``inference.yml`` document → ``Preprocess`` (``_Bad`` says what is wrong)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("PreProcess"), dict):
        raise _Bad("no PreProcess section (not a PaddleClas inference config?)")
    ops = doc["PreProcess"].get("transform_ops")
    if not isinstance(ops, list) or not ops:
        raise _Bad("PreProcess has no transform_ops list")
    fields: dict[str, Any] = {"resize_short": None, "crop": None, "source": source}
    seen: list[str] = []
    for item in ops:
        name, args = _op(item)
        if name in _IGNORED_OPS:
            continue
        if name not in KNOWN_OPS:
            raise _Bad(
                f"transform {name!r} is not one p2o can reproduce (it knows {', '.join(KNOWN_OPS)})"
            )
        seen.append(name)
        fields.update(_STEPS[name](args))
    if "ToCHWImage" not in seen:
        raise _Bad("no ToCHWImage: the model takes HWC images; p2o feeds NCHW tensors")
    if fields["crop"] is None and fields.get("resize") is None:
        raise _Bad("neither CropImage nor ResizeImage size: the input has no fixed size")
    fields.update(_postprocess(doc.get("PostProcess")))
    return Preprocess(**fields)


def _op(item: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        name, args = next(iter(item.items()))
        if args is None:
            args = {}
        if isinstance(args, dict):
            return str(name), args
    raise _Bad(f"transform_ops entry {item!r} is not 'Name: {{arguments}}'")


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad(f"{what} must be a positive integer, got {value!r}")
    return value


def _size(value: Any, what: str) -> int | tuple[int, int]:
    """A side, or [width, height] (PaddleClas's order)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _Bad(f"{what} must be a side or [width, height], got {value!r}")
        w, h = (_positive_int(v, what) for v in value)
        return w if w == h else (w, h)
    return _positive_int(value, what)


def _resize(args: dict[str, Any]) -> dict[str, Any]:
    if "resize_short" in args and args.get("size") is not None:
        raise _Bad("ResizeImage has both resize_short and size")
    if args.get("size") is not None:
        size = _size(args["size"], "ResizeImage size")
        wh = (size, size) if isinstance(size, int) else size
        return {"resize": wh, "resize_short": None}
    if "resize_short" in args:
        return {"resize_short": _positive_int(args["resize_short"], "ResizeImage resize_short")}
    raise _Bad("ResizeImage without resize_short or size")


def _crop(args: dict[str, Any]) -> dict[str, Any]:
    if "size" not in args:
        raise _Bad("CropImage without size")
    return {"crop": _size(args["size"], "CropImage size")}


def _number(value: Any, what: str) -> float:
    """A number, or the ``1.0/255.0`` string PaddleClas's training configs write."""
    if isinstance(value, bool):
        raise _Bad(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(?:/\s*([0-9.eE+-]+)\s*)?", str(value))
    try:
        if m is None:
            raise ValueError
        num = float(m.group(1))
        return num / float(m.group(2)) if m.group(2) else num
    except (ValueError, ZeroDivisionError):
        raise _Bad(f"{what} must be a number, got {value!r}") from None


def _triple(value: Any, what: str, channels: int = 3) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != channels:
        raise _Bad(f"{what} must list {channels} numbers, got {value!r}")
    return tuple(_number(v, what) for v in value)


def _normalize(args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "scale" in args:
        out["scale"] = _number(args["scale"], "NormalizeImage scale")
    if "mean" in args:
        out["mean"] = _triple(args["mean"], "NormalizeImage mean")
    if "std" in args:
        out["std"] = _triple(args["std"], "NormalizeImage std")
        if any(s == 0 for s in out["std"]):
            raise _Bad("NormalizeImage std has a zero")
    order = str(args.get("order") or "hwc").lower()  # the layout it gets: same numbers either way
    if order not in ("hwc", "chw"):
        raise _Bad(f"NormalizeImage order must be 'hwc' or 'chw', got {args['order']!r}")
    channels = args.get("channel_num", 3)
    if channels not in (3, 4):
        raise _Bad(f"NormalizeImage channel_num must be 3 or 4, got {channels!r}")
    out["channels"] = channels
    if args.get("output_fp16"):
        raise _Bad("NormalizeImage output_fp16: p2o feeds float32")
    return out


def _to_chw(args: dict[str, Any]) -> dict[str, Any]:
    return {}


_STEPS = {
    "ResizeImage": _resize,
    "CropImage": _crop,
    "NormalizeImage": _normalize,
    "ToCHWImage": _to_chw,
}


def _postprocess(post: Any) -> dict[str, Any]:
    """PostProcess: ``{Topk: {topk, label_list}}`` or ``{name: Topk, topk: ...}``."""
    if not isinstance(post, dict):
        return {}
    args = post
    if "name" not in post and len(post) == 1 and isinstance(next(iter(post.values())), dict):
        args = next(iter(post.values()))
    out: dict[str, Any] = {}
    if "topk" in args:
        out["topk"] = _positive_int(args["topk"], "PostProcess topk")
    labels = args.get("label_list")
    if isinstance(labels, list):
        out["labels"] = tuple(str(x) for x in labels)
    return out
