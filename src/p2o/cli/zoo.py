"""``p2o list``: the zoo's models with their published and measured figures.

PATTERN is an fnmatch pattern matched without regard to case ('rednet*' finds RedNet26);
a pattern that matches no model is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from p2o.core import progress
from p2o.core.errors import UsageError, did_you_mean
from p2o.zoo import list_models, model_info


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the zoo's models", description=__doc__)
    p.add_argument(
        "pattern", nargs="?", default="*", help="fnmatch pattern, any case, e.g. 'rednet*'"
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=run)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def run(args: argparse.Namespace) -> int:
    infos = [model_info(n) for n in list_models(args.pattern, ignore_case=True)]
    if not infos:
        hint = did_you_mean(args.pattern.strip("*"), list_models()) or " (see `p2o list`)"
        raise UsageError(f"no model matches {args.pattern!r}{hint}")
    if args.json:
        json.dump([i.to_dict() for i in infos], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    head = (
        f"{'model':28} {'family':8} {'params (M)':>10} {'seed (M)':>9} "
        f"{'FLOPs (G)':>9} {'top-1':>6}"
    )
    print(head)
    print("-" * len(head))
    for i in infos:
        mark = ""
        if (
            i.seed_params_m is not None
            and abs(i.params / 1e6 - i.seed_params_m) > 0.02 * i.seed_params_m
        ):
            mark = "  *"
        print(
            f"{i.name:28} {i.family:8} {i.params / 1e6:10.2f} {_fmt(i.seed_params_m, '9.2f')} "
            f"{_fmt(i.seed_flops_g, '9.3g')} {_fmt(i.seed_top1, '6.2f')}{mark}"
        )
    progress.info(
        "\nparams: our network (= PaddleClas's state dict, BatchNorm statistics included); "
        "seed, FLOPs, top-1: the PaddleClas model pages.\n* the seed table's params differ "
        "by more than 2% from the architecture (see docs/zoo.md)."
    )
    return 0
