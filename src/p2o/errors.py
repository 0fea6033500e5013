"""Exception types that the CLI maps to one clear line and an exit code."""

from __future__ import annotations


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
