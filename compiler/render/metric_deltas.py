"""Evaluation metrics of two state locks side by side, for a pull-request comment or a CI summary.

A plan cannot know the metrics a change will earn: they exist only once apply has run
the evaluation. What is known is what each lock recorded. In a pull request that is the
base branch's lock against the branch's own (they differ when someone applied on the
branch and committed its lock); after an apply on main, the lock before against the lock
after. Evaluations the plan re-runs are marked pending, so a reviewer sees which numbers
the merge will re-measure instead of reading stale ones as the outcome.

Run as ``python -m compiler.render.metric_deltas --before BASE.lock --after llmops.lock
[--plan plan.json]``; it prints Markdown, nothing when there is nothing to show.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_spec.metrics import METRICS

EVALUATION_STEPS = ("evaluate", "gate")  # the gate node repeats its evaluation's metrics beside its verdict
MAX_ROWS = 60


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """One metric of one EvalGate: what the base recorded, what this side recorded."""

    resource: str
    metric: str
    before: float | None
    after: float | None
    pending: bool = False  # the plan re-runs this evaluation: `after` will be re-measured by apply

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None or self.pending:
            return None
        return self.after - self.before

    @property
    def better(self) -> bool | None:
        """Whether the change is an improvement, for metrics whose better direction is known."""
        info = METRICS.get(self.metric)
        if info is None or self.delta is None or self.delta == 0:
            return None
        return (self.delta > 0) == info.higher_is_better


def _numbers(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        return {}
    return {str(k): float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def evaluation_metrics(lock: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """Resource -> its numeric evaluation metrics, from a parsed lock document (None: no lock)."""
    nodes = (lock or {}).get("nodes") or {}
    out: dict[str, dict[str, float]] = {}
    for step in EVALUATION_STEPS:  # the gate's copy, written after the evaluation, wins
        for entry in nodes.values():
            if isinstance(entry, Mapping) and entry.get("step") == step and entry.get("resource"):
                out.setdefault(str(entry["resource"]), {}).update(_numbers(entry.get("metrics")))
    return {resource: metrics for resource, metrics in out.items() if metrics}


def rerun_evaluations(plan: Mapping[str, Any] | None) -> frozenset[str]:
    """The resources whose evaluation the plan (re)creates: their metrics are about to change."""
    changes = (plan or {}).get("changes") or []
    return frozenset(str(c["resource"]) for c in changes
                     if c.get("step") == "evaluate" and c.get("action") in ("create", "update"))


def _order(metric: str) -> tuple[int, str]:
    known = list(METRICS)
    return (known.index(metric), "") if metric in known else (len(known), metric)


def metric_deltas(before_lock: Mapping[str, Any] | None, after_lock: Mapping[str, Any] | None,
                  rerun: Iterable[str] = ()) -> tuple[MetricDelta, ...]:
    """Pure: every metric that differs between the locks, and every metric of an evaluation about to re-run.

    Unchanged metrics of evaluations the plan leaves alone are left out: they are noise in a review.
    """
    before, after, pending = evaluation_metrics(before_lock), evaluation_metrics(after_lock), frozenset(rerun)
    rows: list[MetricDelta] = []
    for resource in sorted(set(before) | set(after)):
        old, new = before.get(resource, {}), after.get(resource, {})
        for metric in sorted(set(old) | set(new), key=_order):
            row = MetricDelta(resource, metric, old.get(metric), new.get(metric), resource in pending)
            if row.pending or row.before != row.after:
                rows.append(row)
    return tuple(rows)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _cell_after(row: MetricDelta) -> str:
    return f"{_number(row.after)} · *re-measured on apply*" if row.pending else _number(row.after)


def _cell_delta(row: MetricDelta) -> str:
    if row.delta is None:
        return ""
    mark = {True: " ✅", False: " ⚠️", None: ""}[row.better]
    return f"{row.delta:+.4g}{mark}"


def render_metric_deltas(rows: Iterable[MetricDelta], before_name: str = "base", after_name: str = "this branch",
                         max_rows: int = MAX_ROWS) -> str:
    """A Markdown section (empty when there are no rows), at most ``max_rows`` rows so a comment stays small."""
    rows = list(rows)
    if not rows:
        return ""
    lines = ["#### Evaluation metrics", "",
             f"Recorded in `llmops.lock` ({before_name} → {after_name}); a plan cannot know a metric before apply "
             "measures it.", "",
             f"| resource | metric | {before_name} | {after_name} | Δ |", "|---|---|---:|---:|---:|"]
    for row in rows[:max_rows]:
        lines.append(f"| `{row.resource}` | {row.metric} | {_number(row.before)} | {_cell_after(row)} | {_cell_delta(row)} |")
    if len(rows) > max_rows:
        lines.append(f"| … | *{len(rows) - max_rows} more not shown* | | | |")
    return "\n".join(lines) + "\n"


def _read_json(path: Path | None, what: str) -> Mapping[str, Any] | None:
    """A JSON document, or None when the file is absent or empty (a branch without a lock yet)."""
    if path is None or not path.is_file() or not path.read_bytes().strip():
        return None
    try:
        body = json.loads(path.read_bytes())
    except ValueError as exc:
        raise SystemExit(f"error: {path} is not a readable {what}: {exc}\n"
                         f"  hint: restore it from git; llmops writes it, never edit it by hand") from None
    if not isinstance(body, Mapping):
        raise SystemExit(f"error: {path} is not a {what} (expected a JSON object)")
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.render.metric_deltas", description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, help="the base lock (absent or empty: no lock there)")
    parser.add_argument("--after", type=Path, required=True, help="this side's lock")
    parser.add_argument("--plan", type=Path, help="plan.json: evaluations it re-runs are marked pending")
    parser.add_argument("--before-name", default="base")
    parser.add_argument("--after-name", default="this branch")
    args = parser.parse_args(argv)
    rows = metric_deltas(_read_json(args.before, "lock"), _read_json(args.after, "lock"),
                         rerun_evaluations(_read_json(args.plan, "plan")))
    sys.stdout.write(render_metric_deltas(rows, args.before_name, args.after_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
