"""``p2o runtimes``: every runtime p2o knows, whether it can run here, and why not."""

from __future__ import annotations

import argparse
import json
import sys

from p2o.runtimes import registry as rt


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runtimes", help="list runtimes and their availability", description=__doc__)
    p.add_argument("--json", action="store_true", help="print the table as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = rt.availability_table()
    if args.json:
        data = [
            {
                "name": n,
                "description": d,
                "consumes": rt.kind(n),
                "available": a.available,
                "reason": a.reason,
            }
            for n, d, a in rows
        ]
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    for name, desc, avail in rows:
        state = "available" if avail else f"unavailable: {avail.reason}"
        print(f"{name:13} {desc:66} {state}")
    return 0
