"""Lineage at a moment, from a real repository with real applies (fingerprints from the real compiler)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compiler import compile_project, plan_project
from compiler.audit.applylog import read_log_bytes, records
from compiler.audit.lineage import lineage
from compiler.audit.moments import resolve_moment
from compiler.audit.snapshot import BlobCache
from compiler.lockfile import LockEntry
from runners.apply_log import append_record
from runners.state import record_node, state_guard
from tests.projects import BASE
from tests.test_audit_history import History, edit

POLICIES = {
    "policies.yaml": """
        apiVersion: llmops/v1
        kind: Policy
        metadata: {name: pii-needs-redaction}
        spec:
          match: {kinds: [Dataset], labels: {pii: "true"}}
          rule: "resource.spec.transforms.exists(t, has(t.pii_redact))"
          message: datasets labelled pii must redact personal data
        ---
        apiVersion: llmops/v1
        kind: Waiver
        metadata: {name: tickets-later}
        spec:
          policy: Policy/pii-needs-redaction
          resources: [Dataset/tickets]
          reason: redaction lands next sprint
          owner: security@example.com
          expires: 2026-01-15
        """,
}


def apply_now(h: History, when: str, accuracy: float, tag: str) -> dict:
    """What apply records: the plan's changes run (outputs named by ``tag``), the lock and the log written, committed."""
    commit = h.git("rev-parse", "HEAD")
    plan, diagnostics = plan_project(compile_project(h.specs, use_cache=False))
    assert plan is not None, diagnostics
    nodes = {}
    with state_guard(h.specs):
        for change in plan.changes:
            fp = plan.fingerprints[change.node]
            if change.action == "no-op":
                nodes[change.node] = {"fingerprint": fp.value, "action": "no-op", "status": "already-applied",
                                      "outputs": {}, "metrics": {}}
                continue
            outputs = {"model": f"md5-model-{tag}"} if fp.step == "finetune" else (
                {"train": f"md5-train-{tag}", "eval": f"md5-eval-{tag}"} if fp.step == "prepare" else {})
            metrics = {"accuracy": accuracy, "slices": {"lang": {"en": accuracy - 0.05}}} if fp.step == "evaluate" else {}
            record_node(h.specs, change.node, LockEntry(fp.value, fp.step, change.resource, fp.code, fp.spec, fp.inputs,
                                                        fp.data, outputs, metrics, when, commit, "ci <ci@example.com>"))
            nodes[change.node] = {"fingerprint": fp.value, "action": change.action, "status": "applied",
                                  "outputs": outputs, "metrics": metrics}
        stored = append_record(h.specs, {
            "who": "ci <ci@example.com>", "when": when, "commit": commit, "plan_hash": "0" * 64, "nodes": nodes,
            "gates": {"EvalGate/quality": {"passed": accuracy >= 0.5, "verdict": f"accuracy {accuracy}"}},
            "policy": {"findings": 1}, "waivers": ["Waiver/tickets-later"], "result": "applied"})
    h.commit(f"Record apply {stored['seq']}", when)
    return stored


@pytest.fixture
def applied(tmp_path):
    """add (Jan 1) -> apply 1 (Jan 2) -> branch: epochs 1->3 (Bo), rename -> merge (Jan 13) -> apply 2 (Jan 14)."""
    h = History(tmp_path / "repo")
    shas = {"add": h.commit("Add the ticket project", "2026-01-01T10:00:00Z", {**BASE, **POLICIES})}
    (h.specs / "data" / "t.jsonl").write_text('{"text": "hello there", "label": "a", "lang": "en"}\n')
    apply_now(h, "2026-01-02T10:00:00Z", 0.81, "v1")
    h.git("checkout", "-q", "-b", "tune")
    shas["epochs"] = h.commit("Train for 3 epochs", "2026-01-10T10:00:00Z", edit("model.yaml", "epochs: 1", "epochs: 3"),
                              author="Bo Builder <bo@example.com>")
    (h.specs / "gates").mkdir()
    h.git("mv", "specs/gate.yaml", "specs/gates/quality.yaml")
    h.commit("Move the gate", "2026-01-11T10:00:00Z")
    h.git("checkout", "-q", "main")
    h.git("merge", "-q", "--no-ff", "-m", "Merge tune", "tune", date="2026-01-13T10:00:00Z")
    shas["merge"] = h.git("rev-parse", "HEAD")
    apply_now(h, "2026-01-14T10:00:00Z", 0.9, "v2")
    return h, shas


def lineage_at(h: History, at: str | None):
    recs = records(read_log_bytes(h.specs))
    return lineage(h.repo, h.specs, "Deployment/prod", resolve_moment(h.repo, at, recs), recs, BlobCache.load(None))


def items(lin) -> dict:
    return {item.node: item for item in lin.items}


def test_lineage_between_two_applies_is_the_first_one(applied):
    h, shas = applied
    lin = lineage_at(h, "2026-01-05T00:00:00Z")
    assert lin.serving and lin.commit == shas["add"]
    nodes = items(lin)
    assert set(nodes) == {"Deployment/prod:deploy", "EvalGate/quality:gate", "EvalGate/quality:evaluate",
                          "Model/clf:finetune", "Dataset/tickets:prepare", "Prompt/classify:prompt"}
    model = nodes["Model/clf:finetune"]
    assert model.outputs == {"model": "md5-model-v1"}
    assert model.settings["finetune"]["training"]["epochs"] == 1.0 and model.settings["finetune"]["training"]["seed"] == 42
    assert model.introduced["author"] == "Ana Auditor" and model.introduced["commit"] == shas["add"]
    data = nodes["Dataset/tickets:prepare"]
    assert data.outputs == {"train": "md5-train-v1", "eval": "md5-eval-v1"}
    assert list(data.data) == ["data/t.jsonl"] and len(data.data["data/t.jsonl"]) == 32
    assert data.settings["transforms"][0]["dedup"]["columns"] == ["text"]
    assert nodes["EvalGate/quality:evaluate"].metrics["accuracy"] == 0.81
    assert lin.gates["EvalGate/quality"]["passed"] and lin.gates["EvalGate/quality"]["seq"] == 1
    assert [w["waiver"] for w in lin.waivers] == ["Waiver/tickets-later"]


def test_lineage_after_the_second_apply_follows_the_merged_change(applied):
    h, shas = applied
    lin = lineage_at(h, "2026-01-20")
    nodes = items(lin)
    model = nodes["Model/clf:finetune"]
    assert model.outputs == {"model": "md5-model-v2"} and model.settings["finetune"]["training"]["epochs"] == 3.0
    # The branch commit that made the change is named, not the merge that carried it.
    assert (model.introduced["commit"], model.introduced["author"]) == (shas["epochs"], "Bo Builder")
    # The dataset did not change: its run is still the first apply's.
    assert nodes["Dataset/tickets:prepare"].outputs["train"] == "md5-train-v1"
    assert nodes["Dataset/tickets:prepare"].applied["record"] == 1 and model.applied["record"] == 2
    assert lin.waivers == ()  # expired on the 15th


def test_lineage_at_a_commit_is_once_that_commit_was_applied(applied):
    h, shas = applied
    assert items(lineage_at(h, shas["add"]))["Model/clf:finetune"].outputs == {"model": "md5-model-v1"}
    assert items(lineage_at(h, shas["merge"][:10]))["Model/clf:finetune"].outputs == {"model": "md5-model-v2"}
    assert items(lineage_at(h, None))["Model/clf:finetune"].outputs == {"model": "md5-model-v2"}


def test_nothing_served_before_the_first_apply(applied):
    h, _ = applied
    lin = lineage_at(h, "2025-12-31")
    assert not lin.serving and lin.items == () and "nothing" in lin.note


def test_an_unknown_moment_is_a_clear_error(applied):
    h, _ = applied
    with pytest.raises(ValueError, match="neither a time"):
        lineage_at(h, "last-tuesday")
