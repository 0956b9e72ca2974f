"""User policies and the context rules see: matching, overriding the pack, located failures, lineage."""

from __future__ import annotations

from compiler import compile_project
from compiler.policy.engine import CompileError, activation, compile_rule, evaluate
from compiler.policy.lineage import build_lineage
from compiler.policy.rules import variables_read
from llmops_spec import Ref
from tests.test_policy_pack import OWNER, check, clean_files


def policy(name: str, rule: str, match: str = "{}", severity: str = "error", message: str = "not allowed") -> str:
    return (f"apiVersion: llmops/v1\nkind: Policy\nmetadata: {{name: {name}, owner: {OWNER}}}\nspec:\n"
            f"  severity: {severity}\n  match: {match}\n  rule: {rule}\n  message: {message}\n")


def findings(report) -> list[tuple[str, str, str, str, int, int]]:
    return [(f.code, f.policy, str(f.resource), f.file, f.line, f.col) for f in report.findings]


def test_a_user_policy_matches_kinds_names_and_inherited_labels(project):
    rule = policy("pii-models-stay-internal", '"\'exposure\' in resource.metadata.labels"',
                  '{kinds: [Model], labels: {pii: "true"}}')
    report = check(project, clean_files(policy_yaml=rule))
    # the model has no pii label of its own: it inherits it from the dataset it is trained on; no labels are
    # written, so the finding points at the metadata key, where they would go
    assert findings(report) == [("P100", "pii-models-stay-internal", "Model/clf", "model.yaml", 3, 1)]
    assert report.findings[0].message == "Model/clf violates pii-models-stay-internal: not allowed"
    named = policy("only-quality", '"false"', "{names: [quality]}")
    assert [f.resource for f in check(project, clean_files(policy_yaml=named)).findings] == [Ref("EvalGate", "quality")]


def test_a_violation_points_at_the_first_field_the_rule_reads(project):
    rule = policy("lora-rank-small", '"resource.spec.finetune.lora.r < 4"', "{kinds: [Model]}", message="rank below 4")
    report = check(project, clean_files(policy_yaml=rule))
    assert findings(report) == [("P100", "lora-rank-small", "Model/clf", "model.yaml", 11, 15)]
    assert report.findings[0].message == "Model/clf violates lora-rank-small: rank below 4"


def test_a_user_policy_of_a_builtin_name_replaces_it_visibly(project):
    no_owner = clean_files()["prompt.yaml"].replace(f"owner: {OWNER}, ", "")
    softened = policy("owner-required", '"has(resource.metadata.owner) || resource.kind == \'Prompt\'"')
    report = check(project, clean_files(prompt_yaml=no_owner, policy_yaml=softened))
    # owner-required is a warning rule: its replacement is a warning of builtin-replaced, on the Policy
    assert findings(report) == [("P008", "builtin-replaced", "Policy/owner-required", "policy.yaml", 3, 18)]
    assert report.overridden == ("owner-required",) and report.ok and report.findings[0].severity.value == "warning"
    off = check(project, clean_files(prompt_yaml=no_owner, policy_yaml=policy("owner-required", '"true"')))
    assert [f.code for f in off.findings] == ["P008"]
    as_error = check(project, clean_files(prompt_yaml=no_owner, policy_yaml=policy("owner-required",
                                                                                 '"has(resource.metadata.owner)"')))
    assert sorted((f.code, f.severity.value) for f in as_error.findings) == [("P008", "warning"), ("P100", "error")]


def test_a_rule_that_does_not_compile_is_located_in_the_rule(project):
    typo = policy("typo", '"size(resourse.spec.requires) > 0"', "{kinds: [Deployment]}")
    report = check(project, clean_files(policy_yaml=typo))
    assert findings(report) == [("P101", "typo", "Policy/typo", "policy.yaml", 7, 15)]
    assert "undeclared reference to 'resourse'" in report.findings[0].message and not report.ok
    not_bool = check(project, clean_files(policy_yaml=policy("count", '"size(resource.spec.requires)"')))
    assert [f.code for f in not_bool.findings] == ["P101"]
    assert "evaluates to int" in not_bool.findings[0].message


def test_a_rule_that_fails_on_a_resource_is_a_located_finding_not_a_crash(project):
    rule = policy("prompted", '"resource.spec.prompt == \'Prompt/classify\'"', "{kinds: [Deployment]}", severity="warning")
    report = check(project, clean_files(policy_yaml=rule))
    assert findings(report) == [("P102", "prompted", "Deployment/prod", "deploy.yaml", 4, 1)]
    (finding,) = report.findings
    assert "Key not found" in finding.message and finding.severity.value == "warning"
    assert finding.hint.startswith("the rule is at policy.yaml:7; guard optional fields with has()")
    guarded = policy("prompted", '"!has(resource.spec.prompt) || resource.spec.prompt == \'Prompt/classify\'"',
                     "{kinds: [Deployment]}")
    assert check(project, clean_files(policy_yaml=guarded)).findings == ()


def test_rules_see_lineage_upstream_and_downstream(project):
    upstream = policy("no-prod-on-raw-data", '"upstream.datasets.all(d, d.redacted && d.owner != \'\')"',
                      "{kinds: [Deployment]}")
    downstream = policy("datasets-reach-prod", '"downstream.deployments.exists(d, d.environment == \'staging\')"',
                        "{kinds: [Dataset]}", severity="warning")
    report = check(project, clean_files(up_yaml=upstream, down_yaml=downstream))
    assert [(f.policy, str(f.resource)) for f in report.findings] == [("datasets-reach-prod", "Dataset/tickets")]
    spec_of_input = policy("lora-only", '"inputs.models.all(m, has(m.spec.finetune))"', "{kinds: [EvalGate]}")
    assert check(project, clean_files(p_yaml=spec_of_input)).findings == ()


def test_labels_are_inherited_and_true_cannot_be_overridden_downstream(project):
    model = clean_files()["model.yaml"].replace("metadata: {", 'metadata: {labels: {pii: "false", team: ml}, ')
    dataset = clean_files()["datasets.yaml"].replace('labels: {pii: "true"}', 'labels: {pii: "true", team: data, tier: gold}')
    lineage = build_lineage(compile_project(project(clean_files(model_yaml=model, datasets_yaml=dataset)),
                                            use_cache=False).project)
    assert dict(lineage.labels[Ref("Model", "clf")]) == {"pii": "true", "team": "ml", "tier": "gold"}
    assert dict(lineage.labels[Ref("Deployment", "prod")]) == {"env": "prod", "pii": "true", "team": "ml", "tier": "gold"}
    assert dict(lineage.labels[Ref("Prompt", "classify")]) == {}  # a prompt names columns; it reads no rows
    assert lineage.upstream(Ref("Deployment", "prod")) == {Ref("Dataset", "tickets"), Ref("Prompt", "classify"),
                                                          Ref("Model", "clf"), Ref("EvalGate", "quality")}
    assert lineage.downstream(Ref("Dataset", "tickets")) == {Ref("Model", "clf"), Ref("EvalGate", "quality"),
                                                            Ref("Deployment", "prod")}


def test_provenance_names_files_datasets_and_splits(project):
    derived = ("apiVersion: llmops/v1\nkind: Dataset\nmetadata: {name: short, owner: a@example.com}\nspec:\n"
               "  source: {dataset: Dataset/tickets@train}\n  columns: {text: string}\n  splits: {train: 0.5, eval: 0.5}\n")
    lineage = build_lineage(compile_project(project(clean_files(short_yaml=derived)), use_cache=False).project)
    assert dict(lineage.provenance(Ref("Dataset", "short", "eval"))) == {
        "data/t.jsonl": "*", "Dataset/tickets": "train", "Dataset/short": "eval"}
    assert dict(lineage.provenance(Ref("Dataset", "tickets"))) == {"data/t.jsonl": "*", "Dataset/tickets": "*"}
    assert lineage.training(Ref("EvalGate", "quality")) == (Ref("Dataset", "tickets", "train"),)
    assert lineage.evaluation(Ref("Deployment", "prod")) == (Ref("Dataset", "tickets", "eval"),)


def test_a_dependency_cycle_neither_hangs_nor_crashes(project):
    a = ("apiVersion: llmops/v1\nkind: Dataset\nmetadata: {name: a, owner: o@example.com}\nspec:\n"
         "  source: {dataset: Dataset/b}\n  columns: {text: string}\n")
    b = a.replace("name: a", "name: b").replace("Dataset/b", "Dataset/a")
    compilation = compile_project(project(clean_files(a_yaml=a, b_yaml=b)), use_cache=False)
    assert any(d.code == "E204" for d in compilation.diagnostics)
    lineage = build_lineage(compilation.project)
    assert Ref("Dataset", "b") in lineage.upstream(Ref("Dataset", "a"))
    assert "Dataset/a" in lineage.provenance(Ref("Dataset", "b"))


def test_rules_convert_only_what_they_read():
    assert variables_read("has(resource.metadata.owner)") == {"resource:envelope"}
    assert variables_read("size(resource.spec.requires) > 0 && labels.env == 'x'") == {
        "resource:envelope", "resource.spec.requires", "labels"}
    assert variables_read("has(resource.spec)") == {"resource"}
    assert variables_read("inputs.models.all(m, has(m.spec.finetune))") == {"inputs", "entries:spec"}


def test_the_engine_follows_the_cel_spec_where_it_matters():
    cases = {  # expression: the value, or an error
        "1 + 2 == 3 && 2u * 3u == 6u && 1.5 * 2.0 == 3.0": True,
        "dyn(1) == 1.0 && dyn(1) == 1u": True,  # numeric equality across int, uint and double at run time
        "size('héllo') == 5": True,  # code points, not bytes
        "has(m.a) && !has(m.b)": True,
        "[1, 2, 3].exists(x, x > 2) && [1, 2, 3].all(x, x > 0) && ![1, 2, 3].exists_one(x, x > 1)": True,
        "'hello'.startsWith('he') && 'hello'.endsWith('lo') && 'hello'.contains('ell') && 'abc'.matches('^a.c$')": True,
        "(1 / 0 == 1) || true": True,  # errors are absorbed by a true
        "m.b == 1": "error",
        "9223372036854775807 + 1 > 0": "error",
    }
    for expression, expected in cases.items():
        program = compile_rule(expression.replace("m.", "resource.").replace("(m.", "(resource."))
        assert not isinstance(program, CompileError), expression
        outcome = evaluate(program, activation({"resource": {"a": 1}}))
        assert (outcome if isinstance(outcome, bool) else "error") == expected, expression
    assert isinstance(compile_rule("1 + 1u == 2"), CompileError)  # mixing int and uint is a type error
