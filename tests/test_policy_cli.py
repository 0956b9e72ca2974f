"""llmops policy check end to end: exit codes by severity, text, JSON, SARIF (against the OASIS schema), annotations."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from compiler import compile_project
from compiler.policy import check_policies
from compiler.render.sarif import render_sarif
from llmops_cli.commands.policy import repository_prefix
from llmops_cli.main import main
from tests.test_policy_pack import OWNER, SECRET, TODAY, clean_files, edit

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
WAIVERS = f"""\
apiVersion: llmops/v1
kind: Waiver
metadata: {{name: gate-owner, owner: {OWNER}}}
spec:
  policy: Policy/owner-required
  resources: [EvalGate/quality]
  reason: the eval team takes it over this month
  owner: lead@example.com
  expires: 2026-12-31
---
apiVersion: llmops/v1
kind: Waiver
metadata: {{name: old-exception, owner: {OWNER}}}
spec:
  policy: Policy/owner-required
  resources: [Prompt/classify]
  reason: legacy
  owner: lead@example.com
  expires: 2026-01-31
"""


def violations() -> dict[str, str]:
    """An error (a secret), a warning whose waiver expired, a waived warning."""
    files = edit("deploy.yaml", "  requires:", f"  env_vars: {{HF_TOKEN: {SECRET}}}\n  requires:")
    files["prompt.yaml"] = files["prompt.yaml"].replace(f"owner: {OWNER}, ", "")
    files["gate.yaml"] = files["gate.yaml"].replace(f"owner: {OWNER}, ", "")
    files["waivers.yaml"] = WAIVERS
    return files


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def sarif_errors(log: dict) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft4Validator(SCHEMA).iter_errors(log)]


def test_text_report_golden(capsys, project, monkeypatch, file_regression):
    monkeypatch.chdir(project(violations()))
    code, out, err = run(capsys, "policy", "check", ".", "--today", TODAY.isoformat())
    assert code == 1
    assert err.strip().splitlines()[-1] == "policy: 1 error, 1 warning, 1 waived, 1 expired waiver (7 policies, 5 resources)"
    assert SECRET not in out
    file_regression.check(out, basename="policy_check_text", extension=".txt")


def test_sarif_is_valid_and_locates_every_result(project, file_regression):
    compilation = compile_project(project(violations()), use_cache=False)
    report = check_policies(compilation, TODAY)
    text = render_sarif(report, prefix="specs", version="1.2.3")
    log = json.loads(text)
    assert sarif_errors(log) == []
    (run_,) = log["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in report.rules]
    results = run_["results"]
    assert [(r["ruleId"], r["level"], "suppressions" in r) for r in results] == [
        ("no-secrets-in-specs", "error", False), ("owner-required", "warning", True), ("owner-required", "warning", False)]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert location["artifactLocation"]["uri"].startswith("specs/") and location["region"]["startLine"] > 0
    assert results[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "specs/deploy.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 6, "startColumn": 24}}
    suppression = results[1]["suppressions"][0]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert "the eval team takes it over this month" in suppression["justification"]
    (notification,) = run_["invocations"][0]["toolExecutionNotifications"]
    assert notification["descriptor"]["id"] == "P200" and notification["level"] == "warning"
    file_regression.check(text, basename="policy_check_sarif", extension=".sarif.json")


def test_sarif_of_a_clean_project_and_of_the_cli_are_valid(capsys, project, monkeypatch, tmp_path):
    root = project(clean_files())
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "policy", "check", ".", "--format", "sarif")
    assert code == 0 and sarif_errors(json.loads(out)) == [] and json.loads(out)["runs"][0]["results"] == []
    target = tmp_path / "out" / "policy.sarif"
    code, out, err = run(capsys, "policy", "check", str(project(violations())), "--format", "sarif", "-o", str(target))
    assert code == 1 and out == "" and f"Wrote the sarif report to {target}" in err
    assert sarif_errors(json.loads(target.read_text())) == []


def test_sarif_paths_are_relative_to_the_repository_root(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "ml" / "specs").mkdir(parents=True)
    assert repository_prefix(repo / "ml" / "specs") == "ml/specs"
    assert repository_prefix(repo) == ""


@pytest.mark.parametrize("case, fail_on, expected", [
    ("clean", "error", 0),
    ("warning", "error", 0),
    ("warning", "warning", 1),
    ("error", "error", 1),
    ("error", "never", 0),
    ("waived error", "error", 0),
    ("waived built-in error", "error", 0),
    ("invalid specs", "never", 1),
])
def test_exit_codes_follow_the_severity_of_what_stands(capsys, project, case, fail_on, expected):
    no_owner = clean_files()["prompt.yaml"].replace(f"owner: {OWNER}, ", "")
    unredacted = clean_files()["datasets.yaml"].replace("    - pii_redact: {columns: [text]}\n", "")
    builtin_waiver = WAIVERS.split("---")[0].replace("owner-required", "pii-training-needs-redaction").replace(
        "EvalGate/quality", "Model/clf")
    policy = ("apiVersion: llmops/v1\nkind: Policy\nmetadata: {name: no-pii-models}\nspec:\n  match: {kinds: [Model]}\n"
              "  rule: \"!('pii' in labels)\"\n  message: no model reads pii\n")
    user_waiver = builtin_waiver.replace("pii-training-needs-redaction", "no-pii-models")
    chosen = {"clean": clean_files(), "warning": clean_files(prompt_yaml=no_owner),
              "error": clean_files(datasets_yaml=unredacted),
              "waived error": clean_files(policy_yaml=policy, w_yaml=user_waiver),
              "waived built-in error": clean_files(datasets_yaml=unredacted, w_yaml=builtin_waiver),
              "invalid specs": clean_files(model_yaml=clean_files()["model.yaml"].replace("epochs: 1", "epochs: lots"))}[case]
    code, _, _ = run(capsys, "policy", "check", str(project(chosen)), "--fail-on", fail_on, "--today", "2026-06-01")
    assert code == expected, case


def test_json_counts_everything_and_includes_validation(capsys, project, monkeypatch):
    monkeypatch.chdir(project(violations()))
    code, out, _ = run(capsys, "policy", "check", "--format", "json", "--today", TODAY.isoformat(), ".")
    body = json.loads(out)
    assert code == 1 and body["format_version"] == 1 and body["ok"] is False and body["today"] == "2026-06-01"
    assert body["counts"] == {"errors": 1, "warnings": 1, "waived": 1, "expired_waivers": 1, "policies": 7, "resources": 5}
    assert [(f["code"], f["resource"], f["file"], f["waived_by"]) for f in body["findings"]] == [
        ("P005", "Deployment/prod", "deploy.yaml", None), ("P007", "EvalGate/quality", "gate.yaml", "gate-owner"),
        ("P007", "Prompt/classify", "prompt.yaml", None)]
    assert body["expired_waivers"][0]["name"] == "old-exception"
    assert body["validation"]["diagnostics"] == []  # a Waiver may name a built-in rule


def test_github_annotations_cover_what_stands_not_what_is_waived(capsys, project, monkeypatch):
    monkeypatch.chdir(project(violations()))
    code, out, _ = run(capsys, "policy", "check", "--format", "github", "--today", TODAY.isoformat(), ".")
    policy_lines = [line for line in out.splitlines() if "title=P" in line]
    assert code == 1 and [line.split(",title=")[1].split("::")[0] for line in policy_lines] == [
        "P005 secret in a spec", "P007 resource without an owner", "P200 waiver expired"]
    assert policy_lines[0].startswith("::error file=deploy.yaml,line=6,col=24,")
    assert "EvalGate/quality" not in out


def user_policy_waiver_files() -> dict[str, str]:
    """A warning that stands (no owner), an error waived by a waiver of a project Policy, and an expired waiver."""
    policy = ("apiVersion: llmops/v1\nkind: Policy\nmetadata: {name: no-pii-models}\nspec:\n  match: {kinds: [Model]}\n"
              "  rule: \"!('pii' in labels)\"\n  message: no model reads pii\n")
    waivers = WAIVERS.replace("owner-required", "no-pii-models").replace("EvalGate/quality", "Model/clf")
    return clean_files(prompt_yaml=clean_files()["prompt.yaml"].replace(f"owner: {OWNER}, ", ""), policy_yaml=policy,
                       waivers_yaml=waivers)


def test_plan_shows_the_verdict_after_the_plan_and_in_the_comment(capsys, project, monkeypatch):
    monkeypatch.chdir(project(user_policy_waiver_files()))
    code, out, _ = run(capsys, "plan", ".", "--no-refresh")
    assert code == 0
    section = out[out.index("Policy:"):].splitlines()
    assert section[0].startswith("Policy: 0 errors, 1 warning, 1 waived, 1 expired waiver (8 policies, 5 resources).")
    assert section[1].split() == ["warning", "owner-required", "Prompt/classify", "prompt.yaml:3:11"]
    assert section[2].split()[:5] == ["waived", "no-pii-models", "Model/clf", "by", "gate-owner"]
    assert section[3].split()[:3] == ["expired", "waiver", "old-exception"]
    code, markdown, _ = run(capsys, "plan", ".", "--no-refresh", "--format", "markdown")
    table = markdown[markdown.index("#### Policy"):].splitlines()
    assert table[2].startswith("⚠️ **0 errors, 1 warning, 1 waived, 1 expired waiver")
    assert table[6].startswith("| warning | `owner-required` | `Prompt/classify` | `prompt.yaml:3:11` |")
    assert table[7].startswith("| waived | `no-pii-models` | `Model/clf` |") and "the eval team takes it over" in table[7]
    assert table[8].startswith("| expired waiver | `no-pii-models` | `Prompt/classify` | `waivers.yaml` |")


def test_the_plan_verdict_is_cached_by_specs_day_and_code(project, monkeypatch):
    import datetime as dt

    from compiler.policy import check
    from compiler.policy.cached import cache_file, policy_verdict

    root = project(user_policy_waiver_files())
    digest = compile_project(root, use_cache=False).project.specs_digest
    first = policy_verdict(root, digest, TODAY)
    assert cache_file(root).is_file() and first["counts"]["warnings"] == 1

    def no_compiling(*args, **kwargs):
        raise AssertionError("the cached verdict was not used")

    monkeypatch.setattr(check, "check_policies", no_compiling)
    assert policy_verdict(root, digest, TODAY) == first
    monkeypatch.undo()
    later = policy_verdict(root, digest, dt.date(2027, 1, 1))  # another day: waivers are judged again
    assert later["counts"]["expired_waivers"] == 2 and later["today"] == "2027-01-01"
    assert json.loads(cache_file(root).read_text())["report"]["today"] == "2027-01-01"  # the latest verdict is kept
    monkeypatch.setattr(check, "check_policies", no_compiling)
    with pytest.raises(AssertionError):  # files that moved since the plan hashed them: judged again, never cached
        policy_verdict(root, "a digest of other files", dt.date(2027, 1, 1))


def test_a_planner_that_compiled_anyway_leaves_the_verdict_for_the_plan(project, monkeypatch):
    from compiler import compile as compile_module
    from compiler.policy.cached import policy_verdict, remember_verdict

    compilation = compile_project(project(user_policy_waiver_files()), use_cache=False)
    remembered = remember_verdict(compilation, TODAY)

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled a second time")

    monkeypatch.setattr(compile_module, "compile_project", no_compiling)
    assert policy_verdict(compilation.project.root, compilation.project.specs_digest, TODAY) == remembered
