"""The evaluation report (metrics.json) from scored rows: pure, so every number can be checked by hand.

Only the metrics a gate names are computed (accuracy always), overall and per slice value
of each ``slice_by`` column. ``counts`` gives successes and n for the rate metrics
(accuracy, exact match), so a gate can take a Wilson lower bound instead of the point value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners.modeling import metrics as m

CLASSIFIER_METRICS = ("precision_macro", "recall_macro", "f1_macro")
TEXT_METRICS = ("exact_match", "bleu", "rouge_l")
LATENCY_METRICS = {"latency_p50_ms": 50, "latency_p95_ms": 95, "latency_p99_ms": 99}
RATES = {"accuracy": m.matches, "exact_match": m.exact_matches}
EVALUATED = {"accuracy", *CLASSIFIER_METRICS, *TEXT_METRICS, "perplexity", *LATENCY_METRICS}


@dataclass(frozen=True)
class Scored:
    """One evaluated row."""

    reference: str
    prediction: str
    slices: Mapping[str, str]                  # slice column -> this row's value
    latency_ms: float | None = None            # measured for a sample of rows only
    nll: tuple[float, int] | None = None       # (summed token NLL, tokens), for perplexity


@dataclass(frozen=True)
class Wanted:
    """What to compute: metric names overall, and per slice column."""

    overall: tuple[str, ...]
    by_slice: Mapping[str, tuple[str, ...]]


def wanted_metrics(thresholds: Iterable[Any]) -> Wanted:
    """Pure: from a gate's thresholds, the metrics to compute (accuracy always, in a stable order)."""
    overall: dict[str, None] = {"accuracy": None}
    by_slice: dict[str, dict[str, None]] = {}
    for threshold in thresholds:
        if threshold.slice_by is None:
            overall[threshold.metric] = None
        else:
            by_slice.setdefault(threshold.slice_by, {"accuracy": None})[threshold.metric] = None
    return Wanted(tuple(overall), {column: tuple(names) for column, names in by_slice.items()})


def all_names(wanted: Wanted) -> set[str]:
    return set(wanted.overall).union(*wanted.by_slice.values())


def compute(names: Sequence[str], rows: Sequence[Scored]) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Pure: (metrics, counts) over ``rows``; a metric with nothing to measure (no latency sample) is left out."""
    references = [r.reference for r in rows]
    predictions = [r.prediction for r in rows]
    values: dict[str, float] = {}
    counts: dict[str, dict[str, int]] = {}
    if not rows:
        return values, counts
    if any(name in CLASSIFIER_METRICS for name in names):
        precision, recall, f1 = m.precision_recall_f1_macro(references, predictions)
        values.update(precision_macro=precision, recall_macro=recall, f1_macro=f1)
    for name in names:
        if name in RATES:
            successes = RATES[name](references, predictions)
            values[name] = successes / len(rows)
            counts[name] = {"successes": successes, "n": len(rows)}
        elif name == "bleu":
            values[name] = m.corpus_bleu(references, predictions)
        elif name == "rouge_l":
            values[name] = m.rouge_l(references, predictions)
        elif name == "perplexity":
            scored = [r.nll for r in rows if r.nll is not None]
            if scored:
                values[name] = m.perplexity(sum(s[0] for s in scored), sum(s[1] for s in scored))
        elif name in LATENCY_METRICS:
            latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
            if latencies:
                values[name] = m.percentile(latencies, LATENCY_METRICS[name])
    return {name: _rounded(values[name]) for name in names if name in values}, counts


def report(task: str, labels: Sequence[str] | None, wanted: Wanted, rows: Sequence[Scored]) -> dict[str, Any]:
    """Pure: the body of metrics.json."""
    overall, counts = compute(wanted.overall, rows)
    slices: dict[str, dict[str, Any]] = {}
    for column, names in wanted.by_slice.items():
        groups: dict[str, list[Scored]] = {}
        for row in rows:
            groups.setdefault(row.slices.get(column, ""), []).append(row)
        slices[column] = {}
        for value in sorted(groups):
            values, group_counts = compute(names, groups[value])
            slices[column][value] = {"n": len(groups[value]), "metrics": values, "counts": group_counts}
    return {"task": task, "labels": list(labels) if labels else None, "n": len(rows), "metrics": overall,
            "slices": slices, "counts": counts}


def _rounded(value: float) -> float:
    return round(value, 6) if value == value and value not in (float("inf"), float("-inf")) else value
