"""Drift (pure): what the lock says serves, against what Serve reports."""

from __future__ import annotations

from compiler.drift import Observed, deploy_targets, detect_drift
from compiler.graph import Graph, Node
from compiler.fingerprint import Fingerprint
from compiler.lockfile import Lock, LockEntry
from compiler.plan import plan_changes
from llmops_spec import Ref

NODE = "Deployment/prod:deploy"


def lock(version: str = "v-abc") -> Lock:
    serve = {"app": "prod", "version": version, "dashboard_url": "http://127.0.0.1:1"}
    return Lock({NODE: LockEntry("f1", "deploy", "Deployment/prod", outputs={"serve": serve})})


def test_running_as_recorded_is_not_drift():
    assert detect_drift(lock(), {NODE: Observed(True, True, "RUNNING", ("v-abc",))}) == ({}, [])


def test_missing_app_other_version_and_unhealthy_are_drift():
    assert "not running" in detect_drift(lock(), {NODE: Observed(True, False)})[0][NODE]
    assert "serves v-zzz, the lock says v-abc" in detect_drift(lock(), {NODE: Observed(True, True, "RUNNING", ("v-zzz",))})[0][NODE]
    assert "UNHEALTHY" in detect_drift(lock(), {NODE: Observed(True, True, "UNHEALTHY", ("v-abc",))})[0][NODE]


def test_an_unreachable_cluster_is_a_note_not_a_change():
    drifted, notes = detect_drift(lock(), {NODE: Observed(False, error="no answer")})
    assert drifted == {} and notes == ["could not check Deployment/prod for drift: no answer"]


def test_drift_turns_a_noop_into_an_update_with_its_reason():
    node = Node(NODE, "deploy", Ref("Deployment", "prod"))
    prints = {NODE: Fingerprint("f1", "deploy", "deploy/1", {}, {}, {})}
    graph = Graph({NODE: node}, {NODE: []})
    assert plan_changes(graph, prints, lock(), "s").changes[0].action == "no-op"
    change = plan_changes(graph, prints, lock(), "s", {NODE: "drift: Serve application prod is not running"}).changes[0]
    assert change.action == "update" and change.reasons[0].kind == "drift"
    assert deploy_targets(lock())[NODE] == {"app": "prod", "version": "v-abc"}  # an old lock's dashboard_url is ignored
