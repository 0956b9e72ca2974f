"""Policy verdicts at each commit: the commit's tree compiled for real, judged by the real engine as of the
commit's day (so a waiver counts until it expires), once per tree, then cached."""

from __future__ import annotations

import textwrap

from compiler.audit.at_commit import PolicyCache, policy_verdicts
from compiler.audit.log import audit_log
from compiler.audit.report import build_report, render_markdown
from compiler.policy import check as policy_check
from tests.projects import BASE
from tests.test_audit_history import History, edit

WAIVER = """
    apiVersion: llmops/v1
    kind: Waiver
    metadata: {name: late-redaction, owner: security@example.com}
    spec:
      policy: Policy/pii-training-needs-redaction
      resources: [Model/clf]
      reason: redaction lands next sprint
      owner: security@example.com
      expires: 2026-01-03
    """
REDACT = ("- dedup: {columns: [text]}", "- dedup: {columns: [text]}\n    - pii_redact: {columns: [text]}")


def _history(tmp_path):
    """pii training data unredacted (P002) -> waived until Jan 3 -> (the waiver expires) -> redacted -> broken."""
    h = History(tmp_path / "repo")
    shas = [h.commit("add", "2026-01-01T10:00:00Z", dict(BASE)),
            h.commit("waive", "2026-01-02T10:00:00Z", {"waivers.yaml": WAIVER}),
            h.commit("retrain", "2026-01-05T10:00:00Z", edit("model.yaml", "epochs: 1", "epochs: 2")),
            h.commit("redact", "2026-01-06T10:00:00Z", edit("datasets.yaml", *REDACT)),
            h.commit("break", "2026-01-07T10:00:00Z", {"model.yaml": textwrap.dedent(BASE["model.yaml"])
                                                       .replace("epochs: 1", "epochs: lots")})]
    return h, shas


def test_verdicts_are_judged_per_commit_as_of_its_day_and_cached_by_tree(tmp_path, monkeypatch):
    days: list[str] = []
    real = policy_check.check_policies
    monkeypatch.setattr(policy_check, "check_policies", lambda c, today=None: days.append(str(today)) or real(c, today))
    h, shas = _history(tmp_path)
    wanted = [(sha, f"2026-01-0{day}") for sha, day in zip(shas, (1, 2, 5, 6, 7))]
    verdicts = policy_verdicts(h.repo, wanted, PolicyCache(tmp_path))

    assert [verdicts[s].status for s in shas] == ["violations", "passed", "violations", "passed", "invalid"]
    first = verdicts[shas[0]]
    assert first.summary.startswith("1 violation (")
    [p002] = [f for f in first.report["findings"] if f["code"] == "P002"]
    assert (p002["resource"], p002["waived_by"], p002["file"]) == ("Model/clf", None, "model.yaml")
    waived = verdicts[shas[1]].report
    assert [f["waived_by"] for f in waived["findings"] if f["code"] == "P002"] == ["late-redaction"]
    expired = verdicts[shas[2]].report  # the same waiver, judged on Jan 5: expired, so the error stands
    assert [w["name"] for w in expired["expired_waivers"]] == ["late-redaction"]
    assert not [f for f in verdicts[shas[3]].report["findings"] if f["code"] == "P002"]
    assert "do not compile" in verdicts[shas[4]].summary
    assert days == ["2026-01-01", "2026-01-02", "2026-01-05", "2026-01-06"]  # the broken commit never reaches the engine

    again = policy_verdicts(h.repo, wanted, PolicyCache(tmp_path))
    assert again == verdicts and len(days) == 4  # every tree judged once


def test_the_log_and_the_report_show_the_verdicts_and_who_waived_what(tmp_path):
    h, shas = _history(tmp_path)
    entries = {e.spec.commit.sha: e for e in audit_log(h.repo, h.specs)}
    assert entries[shas[1]].policy.status == "passed" and entries[shas[2]].policy.status == "violations"

    h.commit("waive again", "2026-01-08T10:00:00Z", {"datasets.yaml": textwrap.dedent(BASE["datasets.yaml"]),
                                                     "model.yaml": textwrap.dedent(BASE["model.yaml"]),
                                                     "waivers.yaml": WAIVER.replace("2026-01-03", "2099-12-31")})
    markdown = render_markdown(build_report(h.repo, h.specs))
    findings = markdown.split("## Policy findings at HEAD", 1)[1].split("## Waivers", 1)[0]
    assert "pii-training-needs-redaction on Model/clf" in findings and "(waived by late-redaction)" in findings


def test_a_text_log_reads_the_summaries_and_never_the_reports(tmp_path):
    h, shas = _history(tmp_path)
    wanted = [(sha, "2026-01-02") for sha in shas]
    full = policy_verdicts(h.repo, wanted, PolicyCache(tmp_path))
    summaries = PolicyCache(tmp_path)
    brief = policy_verdicts(h.repo, wanted, summaries, reports=False)
    assert summaries._reports is None and not summaries.dirty  # the big file was never read, nothing was judged again
    assert len(summaries.trees) == len(shas)  # each commit's tree remembered: a warm log asks git for none
    assert {s: (v.status, v.summary) for s, v in brief.items()} == {s: (v.status, v.summary) for s, v in full.items()}
    assert all(v.report is None for v in brief.values()) and full[shas[0]].report["findings"]
    again = PolicyCache(tmp_path)
    assert policy_verdicts(h.repo, wanted, again) == full and not again.dirty
