"""The ``p2o`` command: a thin layer over the library.

Data goes to stdout (``--json`` stays parseable), logs and errors to stderr. Every error
p2o raises on purpose becomes one line and its exit code (2 usage/environment, 1 a failed
check); ``P2O_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from p2o import __version__, optional
from p2o.cli import _common
from p2o.errors import P2OError

COMMANDS = ("zoo", "convert", "verify", "runtimes", "release", "bench", "cache")  # p2o.cli modules


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="p2o",
        description="Convert PaddlePaddle classifiers to ONNX and prove they compute the same.",
    )
    parser.add_argument("--version", action="version", version=f"p2o {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in COMMANDS:
        importlib.import_module(f"p2o.cli.{mod}").register(sub)
    _common.finish(parser)  # plain help, defaults shown, -q/-v/--no-cache on every command
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Paddle warns on import about a compiler cache it never uses here
    warnings.filterwarnings("ignore", message="No ccache found")
    os.environ.setdefault("GLOG_minloglevel", "2")
    parser = build_parser()
    args = _common.parse(parser, argv)
    try:
        return int(args.func(args) or 0)
    except P2OError as exc:
        if os.environ.get("P2O_DEBUG"):
            traceback.print_exc()
        print(f"p2o: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ImportError as exc:  # an optional package (Paddle, OpenVINO): name the extra
        line = optional.missing_from(exc)
        if line is None:
            raise
        if os.environ.get("P2O_DEBUG"):
            traceback.print_exc()
        print(f"p2o: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("p2o: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
