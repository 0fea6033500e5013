"""The ``p2o`` command: a thin layer over the library.

Data goes to stdout (``--json`` stays parseable), logs and errors to stderr. Exit codes:

- 0 passed; 1 a check failed; 2 a usage or environment error (one line naming it);
- 3 an internal error: an exception p2o did not raise on purpose (a bug), one line saying
  so; never 0 or 1, so a gate cannot mistake a crash for a verdict;
- 130 interrupted (SIGINT, Ctrl-C), 143 terminated (SIGTERM: a CI cancel, ``docker stop``).
  Both unwind the same way: temporary folders are removed and nothing is half-written.

``P2O_DEBUG=1`` shows the traceback of any error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from p2o import DISTRIBUTION, __version__
from p2o.cli import _common
from p2o.core import optional, signals
from p2o.core.errors import P2OError, Terminated

INTERNAL_ERROR = 3
INTERRUPTED = 130
TERMINATED = 143

COMMANDS = ("zoo", "convert", "verify", "runtimes", "release", "bench", "cache")  # p2o.cli modules


def version_line() -> str:
    """What ``p2o --version`` prints: the distribution named, so that this ``p2o`` is told
    apart from PyPI's ``p2o`` (another project's script, which prints ``p2o 0.1.2``)."""
    return f"p2o {__version__} ({DISTRIBUTION}: PaddlePaddle → ONNX with proof)"


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="p2o",
        description="Convert PaddlePaddle classifiers to ONNX and prove they compute the same.",
    )
    parser.add_argument("--version", action="version", version=version_line())
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
    with signals.sigterm_raises():
        return _run(args)


def _debug() -> None:
    if os.environ.get("P2O_DEBUG"):
        traceback.print_exc()


def _run(args: argparse.Namespace) -> int:
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
            return _internal_error(exc)
        _debug()
        print(f"p2o: error: {line}", file=sys.stderr)
        return 2
    except Terminated:
        print("p2o: terminated (SIGTERM)", file=sys.stderr)
        return TERMINATED
    except KeyboardInterrupt:
        print("p2o: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # not raised on purpose: a bug, never a verdict
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    _debug()
    what = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    print(
        f"p2o: internal error: {type(exc).__name__}{': ' + what if what else ''} "
        f"(a bug in p2o, exit {INTERNAL_ERROR}; P2O_DEBUG=1 shows the traceback)",
        file=sys.stderr,
    )
    return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
