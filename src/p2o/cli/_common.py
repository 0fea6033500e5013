"""What every ``p2o`` subcommand shares: -q/-v, --no-cache, help formatting, "did you mean"."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence

from p2o.core import cache, progress
from p2o.core.errors import did_you_mean


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Descriptions kept as written (paragraphs), defaults appended to every option's help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "(default" in text:
            return text
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS:
            return text
        if not action.option_strings:
            return text
        if isinstance(default, list | tuple):
            return text + f" (default {','.join(map(str, default))})"
        return text + " (default %(default)s)"


def add_common(p: argparse.ArgumentParser) -> None:
    """-q/-v and --no-cache on a subcommand's parser.

    Defaults are suppressed (an option not given sets nothing), so a nested subcommand
    (``release merge``) can take them too without resetting its parent's.
    """
    g = p.add_argument_group("output and cache")
    v = g.add_mutually_exclusive_group()
    quiet = "no progress or log lines on stderr, only errors"
    verbose = "also print each stage's time on stderr"
    no_cache = "compute everything again; neither read nor write p2o's cache (P2O_NO_CACHE=1)"
    off = argparse.SUPPRESS
    v.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=off, help=quiet
    )
    v.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=1,
        dest="verbosity",
        default=off,
        help=verbose,
    )
    g.add_argument("--no-cache", action="store_true", default=off, help=no_cache)


def apply_common(args: argparse.Namespace) -> None:

    progress.configure(verbosity=getattr(args, "verbosity", 0))
    cache.set_enabled(False if getattr(args, "no_cache", False) else None)


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the names closest to ``word`` (see p2o.core.errors)."""

    return did_you_mean(word, choices)


def plain(text: str | None) -> str | None:
    """A docstring as help text: reST's ``literal`` marks and :role:`x` removed."""
    if text is None:
        return None
    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", text)
    return text.replace("``", "")


def subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in dict.fromkeys(action.choices.values()):  # aliases share a parser
                out.append(p)
                out.extend(subparsers_of(p))
    return out


EXIT_CODES = (
    "exit codes: 0 passed; 1 a check failed; 2 usage or environment error (one line);\n"
    "  3 internal error (a bug in p2o); 130 interrupted (SIGINT); 143 terminated (SIGTERM)"
)


def finish(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand the shared conventions, after the command modules registered.

    Plain descriptions, defaults shown, -q/-v/--no-cache, and ``_parser``: the subcommand's
    own parser, so that an unknown option prints that subcommand's usage.
    """
    for p in [parser, *subparsers_of(parser)]:
        p.description = plain(p.description)
        p.epilog = "\n\n".join(e for e in (plain(p.epilog), EXIT_CODES) if e)
        p.formatter_class = HelpFormatter
        for action in p._actions:
            action.help = plain(action.help)
        if p is not parser and not any(
            isinstance(a, argparse._SubParsersAction) for a in p._actions
        ):
            add_common(p)
        p.set_defaults(_parser=p)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; an unknown option is reported with the usage of the subcommand it was given to."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        target: argparse.ArgumentParser = getattr(args, "_parser", parser)
        target.error(f"unrecognized arguments: {' '.join(extra)}")
    apply_common(args)
    return args
