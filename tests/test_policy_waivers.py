"""Waivers: honoured through their expiry day, not after; expired ones reported; every report counts the waived."""

from __future__ import annotations

import datetime as dt

from tests.test_policy_pack import OWNER, check, clean_files, edit

UNREDACTED = {"datasets.yaml": "    - pii_redact: {columns: [text]}\n"}


def waiver(name: str, policy: str, resources: str, expires: str) -> str:
    return (f"apiVersion: llmops/v1\nkind: Waiver\nmetadata: {{name: {name}, owner: {OWNER}}}\nspec:\n"
            f"  policy: Policy/{policy}\n  resources: [{resources}]\n  reason: redaction lands next sprint\n"
            f"  owner: security@example.com\n  expires: {expires}\n")


def broken(**waivers: str) -> dict[str, str]:
    """The model trained on unredacted pii (one P002 error), and the waivers given."""
    return edit("datasets.yaml", UNREDACTED["datasets.yaml"], "",
                **{f"{name}_yaml": text for name, text in waivers.items()})


def redaction_waiver(expires: str, resources: str = "Model/clf") -> str:
    return waiver("late-redaction", "pii-training-needs-redaction", resources, expires)


def test_a_waiver_waives_its_policy_for_its_resources(project):
    report = check(project, broken(w=redaction_waiver("2026-12-31")))
    (finding,) = report.findings
    assert finding.waived_by == "late-redaction" and finding.code == "P002"
    assert report.errors == [] and report.ok and report.waived_count == 1
    assert report.to_dict()["counts"] == {"errors": 0, "warnings": 0, "waived": 1, "expired_waivers": 0,
                                          "policies": 7, "resources": 5}
    assert report.summary() == "0 errors, 0 warnings, 1 waived (7 policies, 5 resources)"


def test_a_waiver_counts_on_its_expiry_day_and_not_the_day_after(project):
    files = broken(w=redaction_waiver("2026-06-01"))
    on_the_day = check(project, files, dt.date(2026, 6, 1))
    assert on_the_day.ok and on_the_day.waived_count == 1 and on_the_day.expired_waivers == ()
    after = check(project, files, dt.date(2026, 6, 2))
    assert not after.ok and after.waived_count == 0
    (finding,) = after.errors
    assert finding.waived_by is None and finding.hint.endswith("waiver late-redaction expired on 2026-06-01")
    (expired,) = after.expired_waivers
    assert expired.name == "late-redaction"
    (diagnostic,) = after.expired_diagnostics()
    assert (diagnostic.file, diagnostic.line, diagnostic.col, diagnostic.code, diagnostic.severity.value) == (
        "w.yaml", 9, 12, "P200", "warning")
    assert diagnostic.message == ("waiver late-redaction expired on 2026-06-01: "
                                  "pii-training-needs-redaction applies again to Model/clf")
    assert after.summary() == "1 error, 0 warnings, 0 waived, 1 expired waiver (7 policies, 5 resources)"


def test_an_expired_waiver_is_reported_even_when_nothing_needs_it(project):
    report = check(project, clean_files(w_yaml=redaction_waiver("2020-01-01")))
    assert report.findings == () and report.ok
    assert [w.name for w in report.expired_waivers] == ["late-redaction"]
    assert report.to_dict()["expired_waivers"][0]["expires"] == "2020-01-01"


def test_a_waiver_names_exact_resources_and_policy(project):
    other_resource = check(project, broken(w=redaction_waiver("2026-12-31", "Dataset/tickets")))
    assert [f.waived_by for f in other_resource.findings] == [None]
    other_policy = check(project, broken(w=waiver("w", "owner-required", "Model/clf", "2026-12-31")))
    assert [f.waived_by for f in other_policy.findings] == [None] and not other_policy.ok


def test_when_two_waivers_cover_a_finding_the_later_expiry_answers(project):
    both = redaction_waiver("2026-07-01") + "---\n" + redaction_waiver("2026-12-31").replace("late-redaction", "renewed")
    (finding,) = check(project, broken(w=both)).findings
    assert finding.waived_by == "renewed"


def test_waivers_of_a_user_policy_and_waived_warnings_count_too(project):
    policy = ("apiVersion: llmops/v1\nkind: Policy\nmetadata: {name: models-are-small, owner: a@example.com}\nspec:\n"
              "  severity: warning\n  match: {kinds: [Model]}\n  rule: \"resource.spec.finetune.lora.r <= 2\"\n"
              "  message: adapters stay small\n")
    files = clean_files(policy_yaml=policy, w_yaml=waiver("big-adapter", "models-are-small", "Model/clf", "2026-12-31"))
    report = check(project, files)
    assert [(f.code, f.severity.value, f.waived_by) for f in report.findings] == [("P100", "warning", "big-adapter")]
    assert report.warnings == [] and report.waived_count == 1
