"""The argument groups several commands share, in one place: which model (a zoo name with its
weights, or a user's Paddle model), batch sizes and runtime lists."""

from __future__ import annotations

import argparse
from typing import Any

from p2o.core.errors import UsageError, did_you_mean
from p2o.runtimes import registry as rt


def add_model_source(p: argparse.ArgumentParser) -> None:
    """--model NAME with --weights PATH | --pretrained | --seed N (shared with verify, bench)."""
    p.add_argument("--model", metavar="NAME", help="zoo model name (see `p2o list`)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", metavar="PATH", help="a .pdparams file (strictly loaded)")
    w.add_argument("--pretrained", action="store_true", help="download the official weights once")
    w.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights (default 0)")


def add_paddle_model(p: argparse.ArgumentParser, help_suffix: str = "") -> None:
    """--paddle-model PATH with --params FILE and --inference-config FILE (see docs/byom.md)."""
    p.add_argument(
        "--paddle-model",
        metavar="PATH",
        help="a Paddle inference model: its folder, its program (.json or .pdmodel), or a "
        ".tar/.tar.gz/.tgz/.zip holding it" + help_suffix,
    )
    p.add_argument(
        "--params",
        metavar="FILE",
        help="with --paddle-model: the .pdiparams file, when not beside the program",
    )
    p.add_argument(
        "--inference-config",
        metavar="FILE",
        help="with --paddle-model: PaddleClas's inference.yml (preprocessing), when not beside it",
    )


def weights_of(args: argparse.Namespace) -> str | None:
    return "pretrained" if args.pretrained else args.weights


def source_of(args: argparse.Namespace) -> dict[str, Any]:
    """The ``ModelSource`` fields from ``add_model_source`` and ``add_paddle_model``."""
    return {
        "model": args.model,
        "paddle_model": args.paddle_model,
        "params": args.params,
        "inference_config": args.inference_config,
        "weights": weights_of(args),
        "seed": args.seed,
    }


def int_list(value: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {value!r}"
        ) from None
    if not items or any(i < 1 for i in items):
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {value!r}")
    return items


def name_list(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    for name in items:
        if name not in rt.RUNTIMES:
            raise argparse.ArgumentTypeError(
                f"unknown runtime {name!r}{did_you_mean(name, rt.RUNTIMES)} "
                f"(choose from {', '.join(rt.RUNTIMES)})"
            )
    return items


def usage_int_list(value: str, what: str) -> list[int]:
    """``int_list`` for a value read after parsing: a bad one is a UsageError naming ``--what``."""
    try:
        return int_list(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--{what}: {exc}") from None
