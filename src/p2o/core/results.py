"""The typed results every stage returns, one status vocabulary, one verdict rule, strict JSON.

Status and verdict
------------------
Every check ends in one of four statuses (``Status``): ``passed``, ``failed`` (it ran and
the numbers are wrong), ``error`` (it could not run: a crash, a build failure) and
``skipped`` (it does not apply here, with the reason: a missing package or device).

``verdict(statuses, strict=False)`` turns the statuses of the parts into the status of the
whole, and is the only place that does:

1. any ``error`` → ``error`` (an error beats a failure: the run is not trustworthy);
2. else any ``failed`` → ``failed``;
3. else, under ``strict``, any ``skipped`` → ``failed`` (a strict gate wants every part);
4. else nothing ``passed`` (nothing ran, or everything was skipped) → ``failed``:
   nothing compared proves nothing;
5. else ``passed``.

So a verdict is never ``skipped``, and ``passed`` means at least one part passed and none
failed or errored. Exit code, JSON, JUnit, Markdown and HTML are all rendered from it.

Strict JSON
-----------
JSON has no NaN or Infinity, and strict parsers (JavaScript's ``JSON.parse``, Go's) reject
them. ``to_jsonable`` writes a non-finite float as ``null`` and records why in a
``"nonfinite"`` object beside it, in the nearest enclosing object, keyed by the value's path
relative to that object: ``{"min_tolerance": null, "nonfinite": {"min_tolerance": "inf"}}``,
``{"samples_ms": [1.0, null], "nonfinite": {"samples_ms[1]": "nan"}}``. ``from_jsonable``
puts the values back; every ``from_dict`` does so, so ``X.from_dict(json.loads(s))`` round
trips. ``dumps_strict`` refuses to write NaN/Infinity (``allow_nan=False``).

Results
-------
Dataclasses with ``to_dict()`` (strict-JSON-ready, computed fields such as ``status`` and
``reason`` included for readers) and ``from_dict()`` (computed fields ignored, nested
results and dataclasses rebuilt by their type). A subclass defined in another module (the
reduced-precision ``AgreementComparison``) writes ``"type": "module:Class"`` and loads back
as itself. The truth value of a result means "passed": test ``is None``, not truth, when
asking whether a result is there.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from p2o.core.errors import UsageError

# --------------------------------------------------------------------------- status


class Status(str, enum.Enum):  # enum.StrEnum is Python 3.11+
    """What one check came to. A ``str``: ``Status.PASSED == "passed"``."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        if isinstance(value, str):
            low = value.lower()
            if low == "ok":  # the bench's former word for a measured timing
                return cls.PASSED
            for member in cls:
                if member.value == low:
                    return member
        return None


STATUSES: tuple[Status, ...] = tuple(Status)


def verdict(statuses: Iterable[str], *, strict: bool = False) -> Status:
    """The status of a whole from its parts' statuses (the module's rule; never skipped)."""
    seen = {Status(s) for s in statuses}
    if Status.ERROR in seen:
        return Status.ERROR
    if Status.FAILED in seen:
        return Status.FAILED
    if strict and Status.SKIPPED in seen:
        return Status.FAILED
    if Status.PASSED not in seen:
        return Status.FAILED
    return Status.PASSED


def counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many of each status, every status present (zero included)."""
    seen = [Status(s) for s in statuses]
    return {s.value: seen.count(s) for s in Status}


def exit_code(status: str) -> int:
    """0 when passed, 1 otherwise (a check that failed or could not run)."""
    return 0 if Status(status) is Status.PASSED else 1


# --------------------------------------------------------------------------- strict JSON

NONFINITE = "nonfinite"


def _nonfinite_word(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _plain(obj: Any, path: str, flags: dict[str, str]) -> Any:
    """JSON-ready ``obj``; non-finite floats become None with their path put in ``flags``."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        flags[path] = _nonfinite_word(obj)
        return None
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        return _plain(obj.item(), path, flags)  # numpy scalar
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return _object(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _object({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, Mapping):
        return _object(obj)
    if isinstance(obj, list | tuple):
        return [_plain(v, f"{path}[{i}]", flags) for i, v in enumerate(obj)]
    if hasattr(obj, "tolist"):  # numpy array
        return _plain(obj.tolist(), path, flags)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _object(d: Mapping[Any, Any]) -> dict[str, Any]:
    flags: dict[str, str] = {}
    out = {str(k): _plain(v, str(k), flags) for k, v in d.items() if str(k) != NONFINITE}
    old = d.get(NONFINITE) if isinstance(d, Mapping) else None
    if isinstance(old, Mapping):  # already flagged (a to_dict() inside a to_dict())
        flags = {**{str(k): str(v) for k, v in old.items()}, **flags}
    if flags:
        out[NONFINITE] = flags
    return out


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data (dicts, lists, str, int, finite float, bool, None)."""
    flags: dict[str, str] = {}
    out = _plain(obj, "", flags)
    if flags:
        raise ValueError(f"non-finite value outside any object: {sorted(flags)}")
    return out


_STEP = re.compile(r"\[(\d+)\]")
_FLOAT = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _put(target: Any, path: str, word: str) -> None:
    head, *rest = path.split("[", 1)
    indices = [int(i) for i in _STEP.findall("[" + rest[0])] if rest else []
    if not indices:
        target[head] = _FLOAT[word]
        return
    cur = target[head]
    for i in indices[:-1]:
        cur = cur[i]
    cur[indices[-1]] = _FLOAT[word]


def from_jsonable(obj: Any) -> Any:
    """Undo ``to_jsonable``'s flags: the non-finite floats put back, ``nonfinite`` removed."""
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if not isinstance(obj, Mapping):
        return obj
    out = {k: from_jsonable(v) for k, v in obj.items() if k != NONFINITE}
    for path, word in (obj.get(NONFINITE) or {}).items():
        try:
            _put(out, path, word)
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # a flag naming nothing: the value stays None
    return out


def dumps_strict(obj: Any, *, indent: int | None = 1) -> str:
    """Strict JSON text of ``obj`` (no NaN/Infinity; non-finite → null + flag), newline-ended."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def loads_strict(text: str | bytes) -> Any:
    """Parse strict JSON (NaN/Infinity rejected) and put flagged non-finite values back."""
    return from_jsonable(json.loads(text, parse_constant=_reject_constant))


# --------------------------------------------------------------------------- (de)serializing

T = TypeVar("T", bound="Result")


TYPE = "type"
"""Key naming a result's class when it is a subclass defined outside this module, so that
``from_dict`` rebuilds that class."""


def _tagged(tp: type, value: Mapping[str, Any]) -> type:
    """The subclass of ``tp`` that ``value`` names, else ``tp``."""
    name = value.get(TYPE)
    if not isinstance(name, str) or ":" not in name:
        return tp
    import importlib

    module, _, qualname = name.partition(":")
    if not module.startswith("p2o."):
        return tp
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return tp
    return cls if isinstance(cls, type) and issubclass(cls, tp) else tp


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


_HINTS: dict[type, dict[str, Any]] = {}


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    """A dataclass ``cls`` from plain data: each field decoded by its type, extras ignored."""
    d = from_jsonable(dict(data))
    hints = _hints(cls)
    kwargs = {
        f.name: _decode(hints[f.name], d[f.name])
        for f in dataclasses.fields(cls)
        if f.init and f.name in d
    }
    return cls(**kwargs)


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if isinstance(tp, type) and issubclass(tp, Result):
        result_cls: Any = _tagged(tp, value)
        return result_cls.from_dict(value) if value else None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, Mapping):
        return _build(_tagged(tp, value), value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if origin is list:
        return [_decode(args[0], v) for v in value]
    if origin is tuple:
        inner = args[0] if args else Any
        return tuple(_decode(inner, v) for v in value)
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in value.items()}
    if tp is float and isinstance(value, int | float):
        return float(value)
    return value


class Result:
    """Mixin: ``to_dict`` from the dataclass fields plus ``_extra()``; ``from_dict`` by type."""

    def _extra(self) -> dict[str, Any]:
        """Computed values written for readers (ignored by ``from_dict``)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        cls = type(self)
        tag = {} if cls.__module__ == __name__ else {TYPE: f"{cls.__module__}:{cls.__qualname__}"}
        return _object({**tag, **d, **self._extra()})

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        built: T = _build(_tagged(cls, data), data)
        return built


class Verdict:
    """Mixin for a result whose ``status`` is a verdict: its truth value means "passed", and its
    exit code follows from it (``exit_code``)."""

    @property
    def passed(self) -> bool:
        return Status(self.status) is Status.PASSED  # type: ignore[attr-defined]

    def __bool__(self) -> bool:
        return self.passed

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)  # type: ignore[attr-defined]


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise in __post_init__


def _tuple(v: Any) -> tuple[int, ...] | None:
    return None if v is None else tuple(int(i) for i in v)


# --------------------------------------------------------------------------- parity


@dataclass(frozen=True)
class OutputComparison(Result):
    """One output of one engine against the reference; true when it passed."""

    name: str
    tolerance: float
    passed: bool
    reason: str
    reference_shape: tuple[int, ...]
    actual_shape: tuple[int, ...]
    min_tolerance: float | None = None
    floor: float | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mean_abs_error: float | None = None
    cosine_similarity: float | None = None
    top1_agreement: float | None = None
    top5_agreement: float | None = None
    worst_index: tuple[int, ...] | None = None
    worst_reference: float | None = None
    worst_actual: float | None = None
    nonfinite_reference: int = 0
    nonfinite_actual: int = 0

    def __post_init__(self) -> None:
        _set(self, "reference_shape", _tuple(self.reference_shape))
        _set(self, "actual_shape", _tuple(self.actual_shape))
        _set(self, "worst_index", _tuple(self.worst_index))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        if cls is OutputComparison and data.get("agreement") is not None:
            # judged by a reduced-precision rule: rebuilt with its agreement metrics
            return AgreementComparison.from_dict(data)
        return super().from_dict(data)

    def __bool__(self) -> bool:
        return self.passed


# reduced precision: judged by agreement with the fp32 reference (p2o.parity.acceptance)


@dataclass(frozen=True)
class AgreementRule(Result):
    """Thresholds of one reduced precision; a comparison passes when it meets all of them."""

    precision: str
    min_cosine: float
    min_top1: float
    min_top5: float
    max_range_error: float
    min_samples: int = 64

    def __post_init__(self) -> None:
        for key in ("min_cosine", "min_top1", "min_top5", "max_range_error"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise UsageError(f"{key} must be a finite number >= 0, got {value!r}")
        for key in ("min_cosine", "min_top1", "min_top5"):
            if getattr(self, key) > 1:
                raise UsageError(f"{key} must be at most 1, got {getattr(self, key)!r}")
        if int(self.min_samples) < 1:
            raise UsageError(f"min_samples must be >= 1, got {self.min_samples!r}")

    def with_overrides(self, **values: Any) -> AgreementRule:
        """A copy with the given thresholds replaced (``None`` values keep the default)."""
        given = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **given)

    def describe(self) -> str:
        return (
            f"{self.precision} agreement rule: mean cosine >= {self.min_cosine:g}, "
            f"top-1 agreement >= {self.min_top1:.0%}, top-5 containment >= {self.min_top5:.0%}, "
            f"max |a-r| <= {self.max_range_error:g} x logit range, over >= {self.min_samples} "
            "samples"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Agreement(Result):
    """The agreement metrics of one output (see the module docstring)."""

    samples: int
    cosine: float
    min_cosine: float
    top1: float
    top5: float
    range_error: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AgreementComparison(OutputComparison):
    """An output judged by an agreement rule; the element-wise metrics stay as diagnostics."""

    precision: str = ""
    agreement: Agreement | None = None
    rule: AgreementRule | None = None


@dataclass(frozen=True)
class RuntimeResult(Result):
    """One engine at one batch size: passed, failed (a comparison failed), skipped or error."""

    runtime: str
    status: Status
    reason: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    outputs: list[OutputComparison] = field(default_factory=list)
    build_seconds: float | None = None
    seconds: float | None = None
    """Wall time of this engine's run at this batch size (build excluded), when measured."""

    def __post_init__(self) -> None:
        try:
            _set(self, "status", Status(self.status))
        except ValueError:
            raise ValueError(
                f"status must be one of {[s.value for s in Status]}, got {self.status!r}"
            ) from None

    def __bool__(self) -> bool:
        return self.status is Status.PASSED

    @classmethod
    def from_outputs(
        cls,
        runtime: str,
        outputs: list[OutputComparison],
        *,
        settings: dict[str, Any] | None = None,
        build_seconds: float | None = None,
        seconds: float | None = None,
    ) -> RuntimeResult:
        """``passed`` when there is at least one comparison and all of them passed."""
        failing = [o for o in outputs if not o]
        if not outputs:
            status, reason = Status.FAILED, "no output was compared"
        elif failing:
            status, reason = Status.FAILED, "; ".join(f"{o.name}: {o.reason}" for o in failing)
        else:
            status, reason = Status.PASSED, ""
        return cls(
            runtime, status, reason, dict(settings or {}), list(outputs), build_seconds, seconds
        )

    @classmethod
    def skipped(
        cls, runtime: str, reason: str, *, settings: dict[str, Any] | None = None
    ) -> RuntimeResult:
        return cls(runtime, Status.SKIPPED, reason, dict(settings or {}))

    @classmethod
    def error(
        cls,
        runtime: str,
        reason: str,
        *,
        settings: dict[str, Any] | None = None,
        build_seconds: float | None = None,
        seconds: float | None = None,
    ) -> RuntimeResult:
        return cls(runtime, Status.ERROR, reason, dict(settings or {}), [], build_seconds, seconds)

    @property
    def batch(self) -> int | None:
        b = self.settings.get("batch")
        return None if b is None else int(b)

    @property
    def min_tolerance(self) -> float | None:
        """The smallest tolerance at which every output would pass (None: none would)."""
        values = [o.min_tolerance for o in self.outputs]
        if not values or any(v is None for v in values):
            return None
        return max(v for v in values if v is not None)

    def _extra(self) -> dict[str, Any]:
        return {"min_tolerance": self.min_tolerance}


@dataclass(frozen=True)
class ParityReport(Verdict, Result):
    """Every engine against the reference engine on one model.

    ``status`` is ``verdict`` over the engines' statuses (with ``strict``).
    """

    model: str
    tolerance: float
    reference: str
    results: list[RuntimeResult] = field(default_factory=list)
    strict: bool = False
    output_tolerances: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return counts(r.status for r in self.results)

    @property
    def status(self) -> Status:
        return verdict((r.status for r in self.results), strict=self.strict)

    @property
    def reason(self) -> str:
        """Why the report did not pass ("" when it did)."""
        if self.passed:
            return ""
        bad = [r for r in self.results if r.status in (Status.FAILED, Status.ERROR)]
        if self.strict:
            bad += [r for r in self.results if r.status is Status.SKIPPED]
        if not bad:
            return "no engine was compared with the reference"
        return "; ".join(f"{_case_name(r)} {r.status}: {r.reason}" for r in bad)

    def _extra(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "counts": self.counts,
        }


def _case_name(r: RuntimeResult) -> str:
    return r.runtime if r.batch is None else f"{r.runtime}[bs={r.batch}]"


@dataclass(frozen=True)
class Divergence(Result):
    """Where the ONNX model first stops computing what the Paddle network computes."""

    found: bool
    paddle_layer: str  # first diverging Paddle layer ("" when none diverges)
    paddle_type: str
    onnx_node: str  # suspect: first node after the last match that can compute paddle_type
    onnx_op: str
    # parity's rule (compare.min_tolerance) of the ONNX tensor closest to the layer's output
    rel_error: float
    last_matching_layer: str
    last_matching_node: str
    matched_layers: int
    layers: int
    tolerance: float | None = None  # the tolerance every error here is measured against
    final_min_tolerance: float | None = None  # the final outputs' own measure
    # "program": found from the Paddle program itself (p2o.parity.trace): paddle_layer is the
    # diverging value's name, onnx_node the node computing it, nodes all the nodes between it
    # and the matched values before it (what the repro bundle holds); "network": the zoo's
    # dygraph layers (p2o.parity.localize)
    source: str = "network"
    nodes: list[str] = field(default_factory=list)
    repro: str = ""  # the --repro bundle written for it

    def describe(self) -> str:
        if not self.found:
            return "no diverging layer: the final outputs agree within the tolerance"
        tol = "" if self.tolerance is None else f" > tolerance {self.tolerance:.3g}"
        if self.source == "program":
            others = [n for n in self.nodes if n != self.onnx_node]
            return (
                f"first diverging op: Paddle {self.paddle_type} (output {self.paddle_layer}); "
                f"ONNX node {self.onnx_node} ({self.onnx_op}) computes it"
                + (f" with {', '.join(others[-6:])}" if others else "")
                + f"; off by {self.rel_error:.3g}{tol} (min tolerance); "
                f"last match: {self.last_matching_layer or '(input)'}"
                + (f"; repro: {self.repro}" if self.repro else "")
            )
        return (
            f"first diverging layer: Paddle {self.paddle_layer} ({self.paddle_type}); suspect "
            f"ONNX node: {self.onnx_node or '?'} ({self.onnx_op or '?'}); "
            f"closest ONNX tensor off by {self.rel_error:.3g}{tol} (min tolerance); "
            f"last match: {self.last_matching_layer or '(input)'} "
            f"≈ {self.last_matching_node or '?'}"
        )


@dataclass(frozen=True)
class AccuracyResult(Result):
    """Top-1 / top-5 accuracy (percent) of one engine on labelled images, and the drop."""

    runtime: str
    precision: str
    top1: float
    top5: float
    reference_top1: float
    reference_top5: float
    max_drop: float | None = None  # the gate, in points of top-1 (None: reported only)

    @property
    def drop_top1(self) -> float:
        return self.reference_top1 - self.top1

    @property
    def drop_top5(self) -> float:
        return self.reference_top5 - self.top5

    @property
    def passed(self) -> bool:
        return self.max_drop is None or self.drop_top1 <= self.max_drop + 1e-9

    def describe(self) -> str:
        gate = "" if self.max_drop is None else f" (gate <= {self.max_drop:g} points)"
        return (
            f"{self.runtime} {self.precision}: top-1 {self.top1:.2f}% top-5 {self.top5:.2f}% "
            f"(drop {self.drop_top1:+.2f} / {self.drop_top5:+.2f} points){gate}"
        )

    def _extra(self) -> dict[str, Any]:
        return {"drop_top1": self.drop_top1, "drop_top5": self.drop_top5, "passed": self.passed}


@dataclass(frozen=True)
class Provenance(Result):
    """What produced a result (``p2o.core.provenance.collect``): time, command, tools, machine,
    and the identity of what was judged."""

    utc: str = ""
    command: str = ""
    p2o: str = ""
    git_commit: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    cpu: str = ""
    cpu_flags: list[str] = field(default_factory=list)
    logical_cpus: int = 0
    gpus: list[str] = field(default_factory=list)
    platform: str = ""
    threads: int | None = None
    onnx_sha256: str = ""
    weights_sha256: str = ""
    reference: str = ""
    producer: str = ""
    """Which converter made the ONNX file, and its version (its producer_name/version)."""

    def facts(self) -> dict[str, str]:
        """Name → text, in reading order, for every report format."""
        shown = {k: v for k, v in self.versions.items() if v != "not installed"}
        facts = {
            "date (UTC)": self.utc,
            "command": self.command,
            "p2o": self.p2o + (f" (git {self.git_commit})" if self.git_commit else ""),
            "tools": ", ".join(f"{k} {v}" for k, v in shown.items() if k != "p2o"),
            "CPU": f"{self.cpu} ({self.logical_cpus} logical CPUs)",
            "CPU kernel flags": ", ".join(self.cpu_flags) or "none of AVX2/AVX-512/AMX",
            "GPU": "; ".join(self.gpus) or "none",
            "platform": self.platform,
            "threads": "-" if self.threads is None else str(self.threads),
            "reference": self.reference,
            "ONNX SHA-256": self.onnx_sha256,
            "ONNX producer": self.producer,
            "weights SHA-256": self.weights_sha256,
        }
        return {k: v for k, v in facts.items() if v}


@dataclass(frozen=True)
class PrecisionRecord(Result):
    """What a verify run judged in: the artifact's precision, the one asked of the engines,
    the thresholds overridden on the command line, and the agreement rule of each runtime
    (None: the element-wise tolerance rule)."""

    artifact: str = "fp32"
    runtime: str = "fp32"
    overrides: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, AgreementRule | None] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrecisionRecord:
        rules = data.get("rules") or {}
        return cls(
            artifact=str(data.get("artifact", "fp32")),
            runtime=str(data.get("runtime", "fp32")),
            overrides=dict(data.get("overrides") or {}),
            rules={k: None if v is None else AgreementRule(**v) for k, v in rules.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "runtime": self.runtime,
            "overrides": dict(self.overrides),
            "rules": {k: None if v is None else v.to_dict() for k, v in self.rules.items()},
        }


@dataclass
class VerifyResult(Verdict, Result):
    """``p2o verify``'s outcome: the parity report and what it was run on."""

    report: ParityReport
    onnx_file: str
    inputs: str
    batches: list[int]
    divergence: Divergence | None = None
    golden_saved: str | None = None
    notes: list[str] = field(default_factory=list)
    precision: PrecisionRecord = field(default_factory=PrecisionRecord)
    """Artifact and runtime precision, the acceptance rule per engine (``parity.acceptance``)."""
    accuracy: list[AccuracyResult] = field(default_factory=list)
    """With labelled images: each engine's accuracy and its drop from the reference's."""
    labels: str | None = None
    provenance: Provenance | None = None
    layer_errors: LayerErrorReport | None = None
    """With ``--precision-debug``: the error each reduced node adds (``LayerErrorReport``)."""
    noise_floor: NoiseFloor | None = None
    """How much the reference disagrees with itself (``p2o.parity.noise``); None: not measured."""

    @property
    def status(self) -> Status:
        return self.report.status

    def to_dict(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d.update(
            _object(
                {
                    "onnx_file": self.onnx_file,
                    "inputs": self.inputs,
                    "batches": self.batches,
                    "divergence": self.divergence,
                    "golden_saved": self.golden_saved,
                    "notes": self.notes,
                    "precision": self.precision,
                    "accuracy": self.accuracy,
                    "labels": self.labels,
                    "provenance": self.provenance,
                    "layer_errors": self.layer_errors,
                    "noise_floor": self.noise_floor,
                }
            )
        )
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyResult:
        d = from_jsonable(dict(data))
        div = d.get("divergence")
        return cls(
            report=ParityReport.from_dict(d),
            onnx_file=str(d.get("onnx_file", "")),
            inputs=str(d.get("inputs", "")),
            batches=[int(b) for b in d.get("batches") or []],
            divergence=Divergence.from_dict(div) if div else None,
            golden_saved=d.get("golden_saved"),
            notes=list(d.get("notes") or []),
            precision=PrecisionRecord.from_dict(d.get("precision") or {}),
            accuracy=[AccuracyResult.from_dict(a) for a in d.get("accuracy") or []],
            labels=d.get("labels"),
            provenance=Provenance.from_dict(d["provenance"]) if d.get("provenance") else None,
            layer_errors=(
                LayerErrorReport.from_dict(d["layer_errors"]) if d.get("layer_errors") else None
            ),
            noise_floor=NoiseFloor.from_dict(d["noise_floor"]) if d.get("noise_floor") else None,
        )


# --------------------------------------------------------------------------- bench


@dataclass(frozen=True)
class LatencyStats(Result):
    """Order statistics of one runtime's latencies at one batch size (milliseconds)."""

    count: int
    batch: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    iqr_ms: float
    throughput: float
    """Images per second: ``batch / mean latency``."""

    @property
    def spread(self) -> float:
        """p90 / p50: 1.0 is a perfectly steady engine on a quiet machine."""
        return self.p90_ms / self.p50_ms if self.p50_ms > 0 else math.nan

    @classmethod
    def of(cls, seconds: Any, batch: int) -> LatencyStats:
        import numpy as np

        if len(seconds) == 0:
            raise ValueError("no samples")
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        p25, p50, p75, p90, p99 = np.percentile(ms, [25, 50, 75, 90, 99])
        mean = float(ms.mean())
        return cls(
            count=len(ms),
            batch=batch,
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            mean_ms=mean,
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            iqr_ms=float(p75 - p25),
            throughput=batch / (mean / 1e3) if mean > 0 else math.inf,
        )

    def _extra(self) -> dict[str, Any]:
        return {"spread_p90_p50": self.spread}


@dataclass
class Timing(Result):
    """One runtime at one batch size: measured (``passed``), ``skipped`` (why) or ``error``."""

    runtime: str
    batch: int
    status: Status
    reason: str = ""
    build_seconds: float | None = None
    first_run_ms: float | None = None
    latency: LatencyStats | None = None
    transfers: dict[str, LatencyStats] = field(default_factory=dict)
    """GPU only: host→device (``h2d``) and device→host (``d2h``) copies, timed apart."""
    vs_reference: float | None = None
    """p50 / the reference's p50 at this batch size, same interleaved run (<1: faster)."""
    vs_reference_paired: float | None = None
    """Median over rounds of this runtime's latency / the reference's in the same round."""
    settings: dict[str, Any] = field(default_factory=dict)
    samples_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def seconds(self) -> float | None:
        """Time spent measuring (sum of the samples), for JUnit."""
        return sum(self.samples_ms) / 1e3 if self.samples_ms else None


PUBLISHED_LABEL = (
    "Published figures on other hardware (PaddleClas model pages: NVIDIA V100 / T4 GPUs, "
    "TensorRT). Not measured here and not comparable with the measured CPU rows."
)


@dataclass
class BenchResult(Result):
    """``p2o bench``'s outcome: one ``Timing`` per runtime and batch size, interleaved."""

    model: str
    onnx_file: str | None
    paddle_model: str | None
    runtimes: list[str]
    batches: list[int]
    threads: int
    precision: str
    warmup: int
    iters: int | None
    seconds: float | None
    machine: dict[str, Any]
    timings: list[Timing]
    reference: str = "paddle"
    published: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """``verdict`` over the timings: an engine that errored makes the bench an error."""
        return verdict(t.status for t in self.timings)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def reason(self) -> str:
        if self.passed:
            return ""
        bad = [t for t in self.timings if t.status in (Status.FAILED, Status.ERROR)]
        if not bad:
            return "no runtime was measured"
        return "; ".join(f"{t.runtime}[bs={t.batch}] {t.status}: {t.reason}" for t in bad)

    @property
    def cpu_label(self) -> str:
        m = self.machine
        return f"{m.get('cpu', '?')} ({m.get('logical_cpus', '?')} logical CPUs)"

    @property
    def timing_mode(self) -> str:
        count = f"{self.iters} rounds" if self.iters is not None else f"{self.seconds:g} s"
        return f"warm-up {self.warmup} per runtime and batch, then {count} interleaved round-robin"

    def get(self, runtime: str, batch: int) -> Timing | None:
        for t in self.timings:
            if t.runtime == runtime and t.batch == batch:
                return t
        return None

    def ratio_lines(self) -> list[str]:
        """``bs=1: ort-cpu 0.62x of paddle (paired 0.61x), ...`` per batch size."""
        lines = []
        for b in self.batches:
            parts = [
                f"{t.runtime} {t.vs_reference:.2f}x of {self.reference}"
                + (f" (paired {t.vs_reference_paired:.2f}x)" if t.vs_reference_paired else "")
                for t in self.timings
                if t.batch == b and t.vs_reference is not None and t.runtime != self.reference
            ]
            if parts:
                lines.append(f"bs={b}: " + ", ".join(parts))
        return lines

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["published"] = {"label": PUBLISHED_LABEL, "rows": self.published}
        d.update(interleaved=True, ratios=self.ratio_lines(), status=self.status)
        d["reason"] = self.reason
        return _object(d)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchResult:
        d = dict(data)
        pub = d.get("published")
        if isinstance(pub, Mapping):
            d["published"] = list(pub.get("rows") or [])
        return super().from_dict(d)


# --------------------------------------------------------------------------- release


@dataclass
class ModelRecord(Verdict, Result):
    """One model's outcome in a release; ``record.json`` in its directory.

    ``stage`` names the stage that decided a status other than passed (``convert``,
    ``verify``, ``bench`` or ``worker`` when the process running the model died).
    """

    model: str
    status: Status
    reason: str = ""
    inputs_key: str = ""  # sha256 of weights + options + tool versions: what --resume compares
    weights: str = ""
    weights_sha256: str = ""
    stage: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # file → sha256
    node_counts: dict[str, int] = field(default_factory=dict)  # after each conversion stage
    verify: VerifyResult | None = None
    bench: BenchResult | None = None
    bench_plot: str | None = None  # relative to the model's directory
    skipped_resume: bool = False
    precisions: dict[str, VerifyResult] = field(default_factory=dict)
    """Each precision beyond fp32 (``--precision fp32,int8``): its verify against Paddle fp32."""

    def __post_init__(self) -> None:
        self.status = Status(self.status)


@dataclass
class ReleaseSummary(Verdict, Result):
    """``release.json``: every model's record and the release's verdict over them."""

    models: list[ModelRecord]
    seconds: float = 0.0
    options: dict[str, Any] | None = None
    run: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    format: str = "p2o-release/1"
    provenance: Provenance | None = None

    @property
    def status(self) -> Status:
        return verdict(m.status for m in self.models)

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(m.status == s for m in self.models) for s in ("passed", "failed", "error")}

    def to_dict(self) -> dict[str, Any]:
        return _object(
            {
                "format": self.format,
                "status": self.status,
                "passed": self.passed,
                "counts": self.counts,
                "seconds": self.seconds,
                "options": self.options,
                "run": self.run,
                "tools": self.tools,
                "provenance": self.provenance,
                "models": self.models,
            }
        )


# --------------------------------------------------------------------------- per-layer error


@dataclass(frozen=True)
class LayerError(Result):
    """The error one reduced node adds: its output in the reduced model against the same tensor
    of the fp32 model (``p2o.converter.precision.layer_error``), per sample as the agreement
    rule measures logits, and against the worst of its inputs before they were reduced."""

    node: str
    op_type: str
    tensor: str
    cosine: float  # mean over samples of the cosine of this node's output, reduced vs fp32
    min_cosine: float
    range_error: float  # max |a-r| / reference range, as the rule's range error
    upstream_cosine: float  # the worst input's cosine before this node reduced it (1: exact)
    added: float  # (1 - cosine) - (1 - upstream_cosine): the cosine distance this node adds
    kept_float: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LayerErrorReport(Result):
    """Every reduced node of an artifact and the error it adds, largest first."""

    precision: str
    reference: str  # the fp32 model it was compared with
    inputs: str  # which images
    samples: int
    layers: list[LayerError] = field(default_factory=list)
    reduced_nodes: int = 0  # nodes computing in the reduced precision (quantizable nodes)

    @property
    def kept_float(self) -> list[str]:
        return [e.node for e in self.layers if e.kept_float]

    def table(self, limit: int = 10) -> str:
        """The ``limit`` largest rows as plain text (an exit-1 message, a log)."""
        rows = [f"{'node':<40} {'op':<14} {'added':>9} {'cosine':>8} {'range':>7}"]
        for e in self.layers[:limit]:
            rows.append(
                f"{e.node[:40]:<40} {e.op_type[:14]:<14} {e.added:9.2e} {e.cosine:8.5f} "
                f"{e.range_error:7.3f}"
            )
        return "\n".join(rows)


# --------------------------------------------------------------------------- noise floor

NOISE_MULTIPLE = 10.0
"""An error within this many times the noise floor is the model's own float noise (and
``--tolerance auto`` is this multiple of the floor, ``p2o.parity.noise``)."""
FLOAT32_EPS = float(2.0**-23)
"""The smallest floor a ratio is taken against: two engines that agree bit for bit on the first
batch still round differently somewhere."""


@dataclass(frozen=True)
class NoiseFloor(Result):
    """How much the reference disagrees with itself on the same inputs, on the tolerance rule's
    scale (``min_tolerance``): Paddle Inference's plain vs oneDNN kernels, or (no Paddle model:
    golden files) the ONNX graph with ONNX Runtime's graph optimizations off vs on."""

    value: float
    source: str  # "paddle-kernels" or "onnx-optimizations"
    detail: str  # what was compared, on which samples

    @property
    def what(self) -> str:
        if self.source == "paddle-kernels":
            return f"Paddle's kernels differ by {self.value:.1e}"
        return f"ONNX Runtime's graph optimizations move it by {self.value:.1e}"

    def ratio(self, error: float | None) -> float | None:
        """``error`` in multiples of the floor (None: no error measured)."""
        if error is None or not math.isfinite(self.value):
            return None
        return error / max(self.value, FLOAT32_EPS)

    def within(self, error: float | None) -> bool:
        r = self.ratio(error)
        return r is not None and r <= NOISE_MULTIPLE

    def judge(self, error: float | None, passed: bool = False) -> str:
        """One runtime's error beside the floor, in words."""
        r = self.ratio(error)
        if r is None or error is None:
            return "-"
        if not math.isfinite(r):
            return f"{error:.1e} — not finite: a conversion error"
        if r <= NOISE_MULTIPLE:
            return f"{error:.1e} — within the model's own float noise ({self.what})"
        tail = "within --tolerance" if passed else "a conversion error"
        return f"{error:.1e} — {r:,.0f}× the float noise ({self.value:.1e}): {tail}"

    def short(self, error: float | None) -> str:
        """The table cell: the ratio, and whether it is noise."""
        r = self.ratio(error)
        if r is None:
            return "-"
        if not math.isfinite(r):
            return "inf"
        return f"{r:,.1f}× (noise)" if r <= NOISE_MULTIPLE else f"{r:,.0f}×"
