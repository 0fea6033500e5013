"""p2o cache: what p2o's cache holds (synthetic weights, Paddle reference outputs, downloads).

The cache lives in $P2O_CACHE_DIR, else the user cache directory (~/.cache/p2o on Linux).
Every entry is checked when read and recomputed when damaged; deleting it is always safe.
"""

from __future__ import annotations

import argparse
import json
import sys

from p2o.core import cache, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or clear p2o's cache", description=__doc__)
    actions = p.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    i = actions.add_parser("info", help="where the cache is and what it holds", description=__doc__)
    i.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    i.set_defaults(func=run_info)
    c = actions.add_parser("clear", help="delete the cache's entries", description=__doc__)
    c.add_argument("--kind", metavar="KIND", help="only this kind (a folder shown by `info`)")
    c.add_argument("--json", action="store_true", help="print what was removed as JSON on stdout")
    c.set_defaults(func=run_clear)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _table(info: cache.CacheInfo) -> None:
    for kind, v in info.kinds.items():
        print(f"{kind:24} {v['entries']:6d} {_mb(v['bytes']):>12}")
    print(f"{'total':24} {info.entries:6d} {_mb(info.bytes):>12}")


def run_info(args: argparse.Namespace) -> int:
    info = cache.info()
    if args.json:
        json.dump(info.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    state = "on" if info.enabled else "off (P2O_NO_CACHE / --no-cache)"
    progress.info(f"cache {info.root} ({state})")
    _table(info)
    return 0


def run_clear(args: argparse.Namespace) -> int:
    removed = cache.clear(args.kind)
    if args.json:
        json.dump(removed.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    progress.info(f"removed from {removed.root}:")
    _table(removed)
    return 0
