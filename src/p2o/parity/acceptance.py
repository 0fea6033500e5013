"""The per-precision acceptance rule: when is a reduced-precision result close enough?

fp32 artifacts on fp32 engines keep the element-wise tolerance rule of ``core.tolerance``.
A reduced precision (an fp16 or INT8 artifact, or an engine computing in bf16/fp16) cannot
meet it and is not meant to: it is judged by how well it agrees with the fp32 reference,
sample by sample (the first axis; the other axes are the classes), over enough samples:

- ``cosine``: mean over the samples of the cosine similarity of the logits (the minimum is
  reported too);
- ``top1``: fraction of samples whose arg-max class is the reference's;
- ``top5``: fraction of samples whose reference top-1 class is among the actual top five
  (top-5 containment);
- ``range_error``: the largest ``|a - r|`` of any sample divided by that sample's reference
  logit range ``max(r) - min(r)``. Cosine is blind to a uniform scale and top-k to small
  ones; this catches a quantization that scales the logits (e.g. one wrong weight scale);
- ``samples``: at least this many samples must have been compared (64 evaluation crops by
  default); fewer fails, as a handful of photos makes agreement fractions noise.

Every value must be finite and the shapes equal, as in the element-wise rule. The thresholds
(each precision's file in ``p2o.converter.precision``) come from measurements on one model per
family (docs/precision.md): each is below what a correct artifact reached on every family, with
room for a different CPU, and above what broken or too-aggressive settings gave.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from p2o.converter import precision as precisions
from p2o.core import tolerance as compare
from p2o.core.agreement import TOP_K, judge, measure  # noqa: F401  (re-exported)
from p2o.core.results import (
    AgreementComparison,
    AgreementRule,
    OutputComparison,
    PrecisionRecord,
)
from p2o.core.tolerance import compare_outputs
from p2o.runtimes import registry as rt

UNBOUNDED = sys.float_info.max  # an element-wise tolerance nothing finite exceeds


def rule_for(precision: str) -> AgreementRule | None:
    """The agreement rule of ``precision``; ``None`` for fp32 (the element-wise rule)."""
    return precisions.get(precision).rule


def effective_precision(artifact: str, runtime: str) -> str:
    """What an engine computes in: the artifact's precision unless it is fp32, else the
    engine's (bf16 hint on the fp32 artifact; tf32 counts as fp32 here)."""
    if artifact != "fp32":
        return artifact
    rule = precisions.REGISTRY[runtime].rule if runtime in precisions.REGISTRY else None
    return runtime if rule is not None else "fp32"


def compare_agreement(
    reference: np.ndarray, actual: np.ndarray, rule: AgreementRule, name: str = "output"
) -> AgreementComparison:
    """One output judged by ``rule``; shape and finiteness checks as the element-wise rule."""
    base = compare_outputs(reference, actual, UNBOUNDED, name)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(OutputComparison)}
    fields["tolerance"] = math.inf  # no element-wise bound: the rule decides
    if not base.passed:  # shape mismatch or non-finite values: no agreement to speak of
        return AgreementComparison(**fields, precision=rule.precision, rule=rule)
    m = measure(reference, actual)
    misses = judge(m, rule)
    fields.update(passed=not misses, reason="; ".join(misses))
    return AgreementComparison(**fields, precision=rule.precision, agreement=m, rule=rule)


def compare_all(
    reference: dict[str, np.ndarray], actual: dict[str, np.ndarray], rule: AgreementRule
) -> list[OutputComparison]:
    """Every reference output judged by ``rule`` (pairing as ``core.tolerance.compare_all``)."""
    paired = compare.compare_all(reference, actual, UNBOUNDED)
    out: list[OutputComparison] = []
    names = list(actual)
    for i, c in enumerate(paired):
        if not c.passed:
            out.append(c)
            continue
        act = actual[c.name] if c.name in actual else actual[names[i]]
        out.append(compare_agreement(reference[c.name], act, rule, c.name))
    return out


def describe(c: OutputComparison) -> str:
    """One line: the accuracy cost of an agreement comparison."""
    m = getattr(c, "agreement", None)
    if m is None:
        return ""
    return (
        f"mean cosine {m.cosine:.5f} (min {m.min_cosine:.5f}), top-1 agreement {m.top1:.1%}, "
        f"top-5 containment {m.top5:.1%}, max |a-r| {m.range_error:.3g} of the logit range, "
        f"{m.samples} samples"
    )


# --------------------------------------------------------------------------- verify's use


@dataclass(frozen=True)
class Rules:
    """Which rule judges each runtime of one verify run.

    ``artifact``: the ONNX file's precision (``p2o.converter.precision.detect``);
    ``runtime``: the precision asked of the engines (``--precision``); ``overrides``:
    thresholds from the command line (``min_cosine=...``), applied to every agreement rule.
    """

    artifact: str = "fp32"
    runtime: str = "fp32"
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)

    def precision_of(self, runtime_name: str) -> str:
        """What ``runtime_name`` computes in (a Paddle runtime runs the fp32 Paddle model)."""

        if rt.kind(runtime_name) == "paddle":
            return "fp32"
        return effective_precision(self.artifact, self.runtime)

    def rule(self, runtime_name: str) -> AgreementRule | None:
        base = rule_for(self.precision_of(runtime_name))
        return None if base is None else base.with_overrides(**self.overrides)

    def engine_precision(self, runtime_name: str) -> str:
        """The precision to ask of the engine: TensorRT builds INT8 from a QDQ artifact."""
        if runtime_name == "ort-trt" and self.artifact == "int8":
            return "int8"
        return self.runtime

    def reduced(self, runtimes: list[str]) -> bool:
        return any(self.rule(n) is not None for n in runtimes)

    def samples(self, runtimes: list[str]) -> int:
        rules = [r for r in (self.rule(n) for n in runtimes) if r is not None]
        return max(r.min_samples for r in rules) if rules else 0

    def record(self, runtimes: list[str]) -> PrecisionRecord:
        return PrecisionRecord(
            self.artifact, self.runtime, dict(self.overrides), {n: self.rule(n) for n in runtimes}
        )
