"""Policy verdicts at each commit: the commit's tree compiled for real, judged once, then cached by tree.

The policy engine is written in parallel; until it lands, ``audit log`` says so, and these
tests hand ``policy_verdicts`` a small engine of the same shape (a function of the real
Compilation returning a report with ``to_dict``) to check the plumbing around it.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.audit import at_commit
from compiler.audit.at_commit import UNAVAILABLE, PolicyCache, policy_verdicts
from compiler.audit.log import audit_log
from tests.projects import BASE
from tests.test_audit_history import History, edit


@dataclass
class Report:
    findings: list

    def to_dict(self):
        return {"findings": self.findings}


def test_verdicts_are_computed_per_commit_and_cached_by_tree(tmp_path, monkeypatch):
    calls: list[str] = []

    def check_policies(compilation, today):
        calls.append(str(today))
        return Report([{"policy": "Policy/redact", "resource": str(r.ref), "severity": "error", "message": "redact",
                        "waived": False}
                       for r in compilation.project.of_kind("Dataset")
                       if not any(t.pii_redact for t in r.spec.transforms)])

    h = History(tmp_path / "repo")
    shas = [h.commit("add", "2026-01-01T10:00:00Z", dict(BASE))]
    shas.append(h.commit("redact", "2026-01-02T10:00:00Z", edit(
        "datasets.yaml", "- dedup: {columns: [text]}", "- dedup: {columns: [text]}\n    - pii_redact: {columns: [text]}")))
    shas.append(h.commit("break", "2026-01-03T10:00:00Z", edit("model.yaml", "epochs: 1", "epochs: lots")))
    monkeypatch.setattr(at_commit, "_policy_engine", lambda: check_policies)
    wanted = [(sha, f"2026-01-0{i + 1}") for i, sha in enumerate(shas)]
    verdicts = policy_verdicts(h.repo, wanted, PolicyCache(tmp_path))
    assert [verdicts[s].status for s in shas] == ["violations", "passed", "invalid"]
    assert verdicts[shas[0]].summary == "1 violation (1 finding)"
    assert verdicts[shas[0]].report["findings"][0]["resource"] == "Dataset/tickets"
    assert calls == ["2026-01-01", "2026-01-02"]  # judged as of each commit's day; the broken commit never reaches it
    again = policy_verdicts(h.repo, wanted, PolicyCache(tmp_path))
    assert calls == ["2026-01-01", "2026-01-02"] and again == verdicts


def test_without_the_engine_the_log_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(at_commit, "_policy_engine", lambda: None)
    h = History(tmp_path / "repo")
    h.commit("add", "2026-01-01T10:00:00Z", dict(BASE))
    [entry] = audit_log(h.repo, h.specs)
    assert (entry.policy.status, entry.policy.summary) == ("unavailable", UNAVAILABLE)
