"""Exception types that the CLI maps to one clear line and an exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class P2OError(Exception):
    """Base class of every error p2o raises on purpose."""

    exit_code = 2


class UsageError(P2OError):
    """Bad input from the user: unknown model name, unreadable file, bad option value."""


class EnvironmentProblem(P2OError):
    """Something missing around p2o: no network, a package or device not present."""


class NotApplicable(P2OError):
    """A runtime or variant that does not apply to this model (reported as skipped)."""


class WeightsError(UsageError):
    """A weights file that does not fit the network (missing, unexpected, mis-shaped keys)."""


class CheckFailed(P2OError):
    """A check that ran and failed (parity, tolerance, equivalence)."""

    exit_code = 1


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X, Y or Z?)``: names starting with ``word``, else the closest ones
    (difflib), case-insensitive; ``""`` when nothing is close."""
    lowered = {c.lower(): c for c in choices}
    w = word.lower()
    close = [c for c in lowered if c.startswith(w)][:3]
    close = close or difflib.get_close_matches(w, list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    names = [lowered[c] for c in close]
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f" (did you mean {text}?)"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI cancel, ``docker stop``): unwinds like Ctrl-C, so every ``finally`` and
    context manager runs and nothing temporary is left; the CLI exits 143 (128 + 15)."""

    exit_code = 143


def raise_terminated(signum: int, frame: object) -> None:
    """A signal handler that raises ``Terminated`` in the main thread."""
    raise Terminated(f"signal {signum}")
