"""The Runner interface: build a session once, then run it on numpy feeds.

Public methods check state and inputs and call the subclass's ``_build`` / ``_run``.
Optional packages are imported inside ``_build`` so that importing p2o never needs them;
``availability()`` says whether an engine can run here and, if not, why.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from p2o.core.errors import EnvironmentProblem, UsageError


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.available


@dataclass(frozen=True)
class Split:
    """What a self-timed step returns: its compute seconds, and transfers timed apart."""

    compute: float
    transfers: Mapping[str, float] = field(default_factory=dict)


Step = Callable[[], "Split | None"]  # one timed call; None: time the whole call


class Runner(ABC):
    """One inference engine bound to one model file."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)  # what it can run (fp32 first)

    def __init__(self, model_path: Any, *, threads: int = 2, precision: str = "fp32") -> None:
        if precision not in self.precisions:  # never run fp32 and label it another precision
            raise UsageError(
                f"{self.name}: precision {precision!r} not supported "
                f"(choose from {', '.join(self.precisions)})"
            )
        self.model_path = model_path
        self.threads = threads
        self.precision = precision
        self.build_seconds: float | None = None
        self._session: Any = None
        self.input_names: list[str] = []
        self.output_names: list[str] = []

    @classmethod
    @abstractmethod
    def availability(cls) -> Availability:
        """Whether this engine can run on this machine, and if not, why."""

    @abstractmethod
    def _build(self) -> Any:
        """Create the session; set ``input_names`` and ``output_names``."""

    @abstractmethod
    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the session; outputs in ``output_names`` order."""

    @property
    def settings(self) -> dict[str, Any]:
        """What this runner pinned (threads, precision, engine options), for reports."""
        return {"threads": self.threads, "precision": self.precision}

    def build(self) -> float:
        """Create the session (once); returns the seconds it took."""
        if self._session is None:
            avail = self.availability()
            if not avail:
                raise EnvironmentProblem(f"runtime {self.name} is not available: {avail.reason}")
            t0 = time.perf_counter()
            self._session = self._build()
            self.build_seconds = time.perf_counter() - t0
        return self.build_seconds or 0.0

    def run(self, feed: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Run on ``feed`` (a dict by input name, or one array for a single-input model)."""
        self.build()
        if isinstance(feed, np.ndarray):
            if len(self.input_names) != 1:
                raise UsageError(f"{self.name}: model has inputs {self.input_names}; pass a dict")
            feed = {self.input_names[0]: feed}
        missing = [n for n in self.input_names if n not in feed]
        if missing:
            raise UsageError(
                f"{self.name}: missing inputs {missing} (model wants {self.input_names})"
            )
        outs = self._run({k: np.ascontiguousarray(v) for k, v in feed.items()})
        return dict(zip(self.output_names, outs, strict=True))

    def timed_step(
        self, feed: Mapping[str, np.ndarray], clock: Callable[[], float] = time.perf_counter
    ) -> Step:
        """The call a benchmark times, on ``feed`` (built first). The default runs ``run``
        and lets the caller time it; a GPU runner times compute and transfers itself."""
        self.build()
        arg: Any = next(iter(feed.values())) if len(feed) == 1 else dict(feed)

        def step() -> None:
            self.run(arg)

        return step
