"""The gate verdict (pure) and whether a saved plan may be applied (pure)."""

from __future__ import annotations

import math

import pytest

from compiler.gate import decide_gate, wilson_lower_bound
from compiler.lockfile import Lock, LockEntry
from compiler.plan_freshness import check_fresh
from llmops_spec.evalgate import EvalGateSpec


def gate(**spec) -> EvalGateSpec:
    base = {"model": "Model/m", "dataset": "Dataset/d@eval", "metrics": [{"metric": "accuracy", "min": 0.8}]}
    return EvalGateSpec.model_validate({**base, **spec}, strict=False)


def evaluation(n=100, slices=None, counts=None, **metrics):
    return {"n": n, "metrics": metrics, "slices": slices or {}, "counts": counts or {}}


def test_wilson_lower_bound_matches_the_textbook_value():
    # 81/100: Wilson 95% interval is [0.7222, 0.8749] (Newcombe 1998, method 3)
    assert wilson_lower_bound(81, 100) == pytest.approx(0.7222, abs=1e-4)
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(10, 10) < 1.0


def test_pass_and_fail_on_a_threshold():
    assert decide_gate(gate(), evaluation(accuracy=0.9)).passed
    verdict = decide_gate(gate(), evaluation(accuracy=0.7))
    assert not verdict.passed
    assert "accuracy [all] = 0.7, needs >= 0.8" in verdict.summary()


def test_min_samples_fails_closed():
    verdict = decide_gate(gate(min_samples=200), evaluation(n=50, accuracy=1.0))
    assert not verdict.passed and verdict.failures[0].metric == "samples"


def test_a_missing_metric_fails_closed():
    verdict = decide_gate(gate(metrics=[{"metric": "f1_macro", "min": 0.5}]), evaluation(accuracy=0.9))
    assert not verdict.passed and verdict.failures[0].value is None


def test_wilson_bound_is_stricter_than_the_point_estimate():
    spec = gate(metrics=[{"metric": "accuracy", "min": 0.8, "wilson": True}])
    counts = {"accuracy": {"successes": 85, "n": 100}}
    assert decide_gate(gate(), evaluation(accuracy=0.85, counts=counts)).passed
    assert not decide_gate(spec, evaluation(accuracy=0.85, counts=counts)).passed


def test_slices_are_checked_one_by_one_and_small_slices_fail_closed():
    spec = gate(metrics=[{"metric": "accuracy", "slice_by": "language", "min": 0.8, "min_slice_samples": 10}])
    slices = {"language": {"en": {"n": 50, "metrics": {"accuracy": 0.9}}, "fr": {"n": 40, "metrics": {"accuracy": 0.7}}}}
    verdict = decide_gate(spec, evaluation(accuracy=0.85, slices=slices))
    assert [c.scope for c in verdict.failures] == ["language=fr"]
    tiny = {"language": {"en": {"n": 3, "metrics": {"accuracy": 1.0}}}}
    assert not decide_gate(spec, evaluation(accuracy=1.0, slices=tiny)).passed
    assert not decide_gate(spec, evaluation(accuracy=1.0)).passed  # no slices at all: fail closed


def test_regression_against_the_deployed_baseline():
    spec = gate(metrics=[{"metric": "accuracy", "min": 0.5}, {"metric": "latency_p95_ms", "max": 1000}],
                baseline={"deployment": "Deployment/prod", "max_regression": 0.02})
    deployed = {"metrics": {"accuracy": 0.90, "latency_p95_ms": 100}}
    assert decide_gate(spec, evaluation(accuracy=0.89, latency_p95_ms=101), deployed).passed
    worse = decide_gate(spec, evaluation(accuracy=0.87, latency_p95_ms=150), deployed)
    assert [c.metric for c in worse.failures] == ["accuracy", "latency_p95_ms"]
    assert decide_gate(spec, evaluation(accuracy=0.6, latency_p95_ms=150), None).passed  # nothing deployed yet


def test_a_baseline_compares_only_the_metrics_it_names():
    metrics = [{"metric": "accuracy", "min": 0.5}, {"metric": "latency_p95_ms", "max": 1000}]
    spec = gate(metrics=metrics, baseline={"deployment": "Deployment/prod", "max_regression": 0.01,
                                           "metrics": ["accuracy"]})
    deployed = {"metrics": {"accuracy": 0.90, "latency_p95_ms": 100}}
    slower = decide_gate(spec, evaluation(accuracy=0.90, latency_p95_ms=180), deployed)
    assert slower.passed, "latency is held by its own max only"
    assert [c.metric for c in slower.checks if "baseline" in c.bound] == ["accuracy"]
    assert not decide_gate(spec, evaluation(accuracy=0.88, latency_p95_ms=100), deployed).passed
    assert not decide_gate(spec, evaluation(accuracy=0.90, latency_p95_ms=1001), deployed).passed


def test_a_baseline_may_name_only_metrics_the_gate_measures_on_the_whole_set():
    from pydantic import ValidationError

    sliced = {"metric": "f1_macro", "slice_by": "language", "min": 0.5}
    with pytest.raises(ValidationError, match="baseline.metrics names 'f1_macro', which no threshold gates"):
        gate(metrics=[{"metric": "accuracy", "min": 0.5}, sliced],
             baseline={"deployment": "Deployment/prod", "metrics": ["f1_macro"]})


def test_nan_never_passes():
    assert not decide_gate(gate(), evaluation(accuracy=math.nan)).passed


# ---------------------------------------------------------------- plan freshness

def saved_plan(lock: Lock, changes):
    return {"format_version": 1, "specs_digest": "s1", "lock_digest": lock.digest, "changes": changes}


def entry(fp: str) -> LockEntry:
    return LockEntry(fingerprint=fp, step="prompt", resource="Prompt/p")


def test_fresh_plan_on_unchanged_specs_and_lock():
    lock = Lock({"a": entry("1")}, digest="d1")
    plan = saved_plan(lock, [{"node": "a", "action": "update", "fingerprint": "2", "previous_fingerprint": "1"}])
    assert check_fresh(plan, "s1", lock).fresh
    assert not check_fresh(plan, "s2", lock).fresh
    assert "specs changed" in check_fresh(plan, "s2", lock).reason


def test_a_lock_moved_by_this_very_plan_is_a_resume():
    before = Lock({"a": entry("1"), "gone": entry("9")}, digest="d1")
    changes = [{"node": "a", "action": "update", "fingerprint": "2", "previous_fingerprint": "1"},
               {"node": "b", "action": "create", "fingerprint": "3", "previous_fingerprint": None},
               {"node": "gone", "action": "delete", "fingerprint": None, "previous_fingerprint": "9"}]
    plan = saved_plan(before, changes)
    partway = Lock({"a": entry("2")}, digest="d2")  # a updated, gone deleted, b not yet
    verdict = check_fresh(plan, "s1", partway)
    assert verdict.fresh and verdict.done == {"a", "gone"}


def test_a_lock_moved_by_someone_else_is_stale():
    before = Lock({"a": entry("1")}, digest="d1")
    plan = saved_plan(before, [{"node": "a", "action": "update", "fingerprint": "2", "previous_fingerprint": "1"}])
    assert not check_fresh(plan, "s1", Lock({"a": entry("7")}, digest="d3")).fresh
    assert not check_fresh(plan, "s1", Lock({"a": entry("1"), "x": entry("5")}, digest="d4")).fresh
