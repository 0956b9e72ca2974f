"""The EvalGate verdict: pure, from the evaluation's metrics and the deployed baseline's.

A gate fails closed: a metric the evaluation did not produce, a slice below its sample
floor, or fewer rows than ``min_samples`` are failures, never silent passes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from llmops_spec.metrics import METRICS

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_lower_bound(successes: int, n: int, z: float = Z_95) -> float:
    """The lower end of the Wilson score interval for a rate: a cautious estimate on few samples."""
    if n <= 0:
        return 0.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denominator)


@dataclass(frozen=True, slots=True)
class Check:
    """One threshold (or baseline comparison) on one metric, on the whole set or one slice."""

    metric: str
    scope: str            # "all" or "language=en"
    value: float | None   # what was compared (the Wilson bound when asked for)
    bound: str            # ">= 0.85", "<= 200", ">= baseline 0.91 - 0.01"
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    n: int
    checks: tuple[Check, ...]

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "n": self.n, "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        if self.passed:
            return f"passed {len(self.checks)} checks on {self.n} samples"
        first = self.failures[0]
        shown = "missing" if first.value is None else f"{first.value:.4g}"
        more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return f"failed: {first.metric} [{first.scope}] = {shown}, needs {first.bound}{first.note and ' ' + first.note}{more}"


def _fmt(value: float) -> str:
    return f"{value:g}"


def _threshold_checks(threshold: Any, value: float | None, scope: str, counts: dict[str, Any] | None) -> list[Check]:
    note = ""
    if value is not None and threshold.wilson and counts:
        value = wilson_lower_bound(int(counts["successes"]), int(counts["n"]))
        note = "(Wilson 95% lower bound)"
    checks = []
    for side, bound in (("min", threshold.min), ("max", threshold.max)):
        if bound is None:
            continue
        ok = value is not None and not math.isnan(value) and (value >= bound if side == "min" else value <= bound)
        checks.append(Check(threshold.metric, scope, value, f"{'>=' if side == 'min' else '<='} {_fmt(bound)}", ok, note))
    return checks


def decide_gate(spec: Any, evaluation: dict[str, Any], baseline: dict[str, Any] | None = None) -> Verdict:
    """Pure: the verdict of EvalGate ``spec`` on ``evaluation`` (metrics.json of its evaluate step).

    ``baseline`` is the metrics.json the deployed model earned on this gate, when the spec
    names a baseline deployment that runs; each metric the baseline compares (``baseline.metrics``,
    else every gated one) may then fall at most ``max_regression`` below it (above it, for
    lower-is-better metrics such as latency).
    """
    n = int(evaluation.get("n", 0))
    metrics: dict[str, float] = evaluation.get("metrics", {})
    slices: dict[str, dict[str, Any]] = evaluation.get("slices", {})
    counts: dict[str, Any] = evaluation.get("counts", {})
    checks = [Check("samples", "all", float(n), f">= {spec.min_samples}", n >= spec.min_samples,
                    "" if n >= spec.min_samples else "(fails closed: too few samples to judge)")]
    for threshold in spec.metrics:
        if threshold.slice_by is None:
            checks.extend(_threshold_checks(threshold, metrics.get(threshold.metric), "all", counts.get(threshold.metric)))
            continue
        groups = slices.get(threshold.slice_by)
        if not groups:
            checks.append(Check(threshold.metric, f"{threshold.slice_by}=*", None, "a value per slice", False,
                                f"(the evaluation has no slices by {threshold.slice_by})"))
            continue
        for value_name in sorted(groups):
            group = groups[value_name]
            scope = f"{threshold.slice_by}={value_name}"
            if int(group.get("n", 0)) < threshold.min_slice_samples:
                checks.append(Check(threshold.metric, scope, None, f">= {threshold.min_slice_samples} samples", False,
                                    f"(only {group.get('n', 0)} samples; fails closed)"))
                continue
            checks.extend(_threshold_checks(threshold, group.get("metrics", {}).get(threshold.metric), scope,
                                            group.get("counts", {}).get(threshold.metric)))
    if baseline is not None and spec.baseline is not None:
        checks.extend(_baseline_checks(spec, metrics, baseline.get("metrics", {})))
    return Verdict(all(c.passed for c in checks), n, tuple(checks))


def _baseline_checks(spec: Any, metrics: dict[str, float], deployed: dict[str, float]) -> list[Check]:
    allowed = spec.baseline.max_regression
    checks = []
    compared = spec.baseline.metrics or dict.fromkeys(t.metric for t in spec.metrics if t.slice_by is None)
    for name in compared:
        old, new = deployed.get(name), metrics.get(name)
        if old is None:
            continue  # the deployed model was never measured on it: nothing to regress from
        if METRICS[name].higher_is_better:
            floor = old - allowed
            checks.append(Check(name, "all", new, f">= baseline {_fmt(old)} - {_fmt(allowed)}",
                                new is not None and new >= floor, "(regression against the deployed model)"))
        else:
            ceiling = old * (1 + allowed) if old else allowed
            checks.append(Check(name, "all", new, f"<= baseline {_fmt(old)} (+{_fmt(allowed * 100)}%)",
                                new is not None and new <= ceiling, "(regression against the deployed model)"))
    return checks
