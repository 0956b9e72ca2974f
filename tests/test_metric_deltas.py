"""Metric deltas between two locks: what a reviewer sees under the plan in a pull request."""

from __future__ import annotations

import json
import subprocess
import sys

from compiler.render.metric_deltas import (MetricDelta, evaluation_metrics, metric_deltas, render_metric_deltas,
                                           rerun_evaluations)


def lock(**gates: dict) -> dict:
    """A lock whose EvalGates recorded ``gates[name]`` (evaluate and gate nodes, as apply writes them)."""
    nodes = {"Dataset/t:prepare": {"step": "prepare", "resource": "Dataset/t", "metrics": {"rows": 100}}}
    for name, metrics in gates.items():
        nodes[f"EvalGate/{name}:evaluate"] = {"step": "evaluate", "resource": f"EvalGate/{name}", "metrics": metrics}
        nodes[f"EvalGate/{name}:gate"] = {"step": "gate", "resource": f"EvalGate/{name}",
                                          "metrics": {"passed": True, **metrics}}
    return {"lock_version": 1, "nodes": nodes}


def test_only_evaluation_numbers_count():
    metrics = evaluation_metrics(lock(q={"accuracy": 0.9, "n": 50, "note": "x", "nan": float("nan")}))
    assert metrics == {"EvalGate/q": {"accuracy": 0.9, "n": 50.0}}, "no bools, strings, NaN, or prepare row counts"
    assert evaluation_metrics(None) == {} and evaluation_metrics({"nodes": None}) == {}


def test_changed_metrics_with_direction():
    rows = metric_deltas(lock(q={"accuracy": 0.90, "latency_p95_ms": 40.0, "f1_macro": 0.8}),
                         lock(q={"accuracy": 0.93, "latency_p95_ms": 55.0, "f1_macro": 0.8}))
    assert [(r.metric, r.before, r.after) for r in rows] == [("accuracy", 0.90, 0.93), ("latency_p95_ms", 40.0, 55.0)]
    accuracy, latency = rows
    assert round(accuracy.delta, 6) == 0.03 and accuracy.better is True
    assert latency.delta == 15.0 and latency.better is False, "latency is lower-is-better"


def test_appearing_and_vanishing_gates_and_unknown_metrics():
    rows = metric_deltas(lock(old={"accuracy": 0.8}), lock(new={"accuracy": 0.7, "custom": 3}))
    assert [(r.resource, r.metric, r.before, r.after) for r in rows] == [
        ("EvalGate/new", "accuracy", None, 0.7), ("EvalGate/new", "custom", None, 3.0),
        ("EvalGate/old", "accuracy", 0.8, None)]
    assert all(r.delta is None and r.better is None for r in rows)
    assert metric_deltas(None, None) == ()


def test_a_rerun_evaluation_shows_every_metric_as_pending():
    plan = {"changes": [{"node": "EvalGate/q:evaluate", "resource": "EvalGate/q", "step": "evaluate", "action": "update"},
                        {"node": "EvalGate/r:gate", "resource": "EvalGate/r", "step": "gate", "action": "update"},
                        {"node": "EvalGate/s:evaluate", "resource": "EvalGate/s", "step": "evaluate", "action": "no-op"}]}
    assert rerun_evaluations(plan) == {"EvalGate/q"}, "a threshold change re-judges; it does not re-measure"
    same = lock(q={"accuracy": 0.9}, r={"accuracy": 0.8})
    rows = metric_deltas(same, same, rerun_evaluations(plan))
    assert rows == (MetricDelta("EvalGate/q", "accuracy", 0.9, 0.9, pending=True),)
    assert rows[0].delta is None


def test_markdown_table_is_bounded():
    assert render_metric_deltas(()) == ""
    rows = [MetricDelta(f"EvalGate/g{i}", "accuracy", 0.5, 0.6) for i in range(5)]
    text = render_metric_deltas(rows, max_rows=3)
    assert text.count("| `EvalGate/g") == 3 and "*2 more not shown*" in text
    assert "| `EvalGate/g0` | accuracy | 0.5 | 0.6 | +0.1 ✅ |" in text
    pending = render_metric_deltas([MetricDelta("EvalGate/q", "accuracy", 0.9, 0.9, True)])
    assert "| 0.9 | 0.9 · *re-measured on apply* |  |" in pending


def test_module_entry_point_reads_files(tmp_path):
    (tmp_path / "base.lock").write_text("")  # the base branch has no lock yet
    (tmp_path / "head.lock").write_text(json.dumps(lock(q={"accuracy": 0.9})))
    (tmp_path / "bad.lock").write_text("{not json")
    run = [sys.executable, "-m", "compiler.render.metric_deltas", "--after", str(tmp_path / "head.lock")]
    shown = subprocess.run([*run, "--before", str(tmp_path / "base.lock")], capture_output=True, text=True)
    assert shown.returncode == 0 and "| `EvalGate/q` | accuracy | — | 0.9 |" in shown.stdout
    broken = subprocess.run([*run, "--before", str(tmp_path / "bad.lock")], capture_output=True, text=True)
    assert broken.returncode == 1 and "bad.lock is not a readable lock" in broken.stderr
    assert "Traceback" not in broken.stderr
