"""Checks across resources, each on the small project with one thing broken."""

from __future__ import annotations

from compiler import compile_project
from tests.projects import BASE, files


def diagnose(project, **overrides):
    compilation = compile_project(project(files(**overrides)), use_cache=False)
    return [(d.file, d.line, d.col, d.code) for d in compilation.diagnostics], compilation


def test_base_project_is_clean(project):
    found, compilation = diagnose(project)
    assert found == []
    assert len(compilation.graph.nodes) == 6


def test_dangling_reference_suggests_the_real_one(project):
    model = BASE["model.yaml"].replace("Dataset/tickets@train", "Dataset/ticket@train")
    _, compilation = diagnose(project, model_yaml=model)
    (d,) = compilation.diagnostics
    assert (d.file, d.line, d.col, d.code) == ("model.yaml", 9, 14, "E201")
    assert d.hint == "did you mean Dataset/tickets (datasets.yaml:3)?"


def test_reference_to_a_name_of_another_kind_is_explained(project):
    gate = BASE["gate.yaml"].replace("model: Model/clf", "model: Model/classify")
    _, compilation = diagnose(project, gate_yaml=gate)
    assert any(d.code == "E201" and "Prompt/classify exists" in d.hint for d in compilation.diagnostics)


def test_unknown_output_suggests_a_split(project):
    model = BASE["model.yaml"].replace("@train", "@trian")
    _, compilation = diagnose(project, model_yaml=model)
    (d,) = compilation.diagnostics
    assert d.code == "E203" and d.hint == "did you mean Dataset/tickets@train?"


def test_prompt_variables(project):
    prompt = BASE["prompt.yaml"].replace("{{ text }}", "{{ text }} {{ langauge }}").replace(
        "text: {from: Dataset/tickets}", "text: {from: Dataset/tickets}\n            extra: {value: 1}")
    found, compilation = diagnose(project, prompt_yaml=prompt)
    assert ("prompt.yaml", 6, 29, "E210") in found  # inside the block scalar, at the name
    assert ("prompt.yaml", 9, 5, "W100") in found
    missing_column = BASE["prompt.yaml"].replace("{from: Dataset/tickets}", "{from: Dataset/tickets, column: txt}")
    _, compilation = diagnose(project, prompt_yaml=missing_column)
    (d,) = compilation.diagnostics
    assert d.code == "E211" and d.hint == "did you mean text?"


def test_template_syntax_error_points_into_the_template(project):
    prompt = BASE["prompt.yaml"].replace("Classify: {{ text }}", "Classify:\n            {% if text %}{{ text }}")
    found, _ = diagnose(project, prompt_yaml=prompt)
    assert [code for *_, code in found] == ["E212"]


def test_source_paths_stay_inside_and_exist(project, tmp_path):
    outside = BASE["datasets.yaml"].replace("data/t.jsonl", "../../etc/passwd")
    assert [c for *_, c in diagnose(project, datasets_yaml=outside)[0]] == ["E221"]
    absolute = BASE["datasets.yaml"].replace("data/t.jsonl", "/etc/passwd")
    assert [c for *_, c in diagnose(project, datasets_yaml=absolute)[0]] == ["E221"]
    missing = BASE["datasets.yaml"].replace("data/t.jsonl", "data/nope.jsonl")
    assert [c for *_, c in diagnose(project, datasets_yaml=missing)[0]] == ["E220"]


def test_symlink_escaping_the_repository_is_caught(project, tmp_path):
    root = project(files())
    (root / "data" / "link.jsonl").symlink_to("/etc/hostname")
    (root / "datasets.yaml").write_text((root / "datasets.yaml").read_text().replace("data/t.jsonl", "data/link.jsonl"))
    assert [d.code for d in compile_project(root, use_cache=False).diagnostics] == ["E221"]


def test_dvc_tracked_source_counts_as_present(project):
    root = project(files())
    (root / "data" / "t.jsonl").rename(root / "data" / "big.jsonl")
    (root / "data" / "big.jsonl.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: big.jsonl\n")
    (root / "data" / "big.jsonl").unlink()
    (root / "datasets.yaml").write_text((root / "datasets.yaml").read_text().replace("data/t.jsonl", "data/big.jsonl"))
    assert compile_project(root, use_cache=False).diagnostics == []


def test_split_fractions_sum(project):
    found, _ = diagnose(project, datasets_yaml=BASE["datasets.yaml"].replace("eval: 0.2", "eval: 0.3"))
    assert [c for *_, c in found] == ["E222"]


def test_columns_named_by_transforms_gates_and_finetune(project):
    ds = BASE["datasets.yaml"].replace("dedup: {columns: [text]}", "dedup: {columns: [txt]}")
    assert [c for *_, c in diagnose(project, datasets_yaml=ds)[0]] == ["E223"]
    gate = BASE["gate.yaml"].replace("slice_by: lang", "slice_by: language")
    assert [c for *_, c in diagnose(project, gate_yaml=gate)[0]] == ["E223"]
    model = BASE["model.yaml"].replace("lora: {r: 4}", "lora: {r: 4}\n            label_column: category")
    assert [c for *_, c in diagnose(project, model_yaml=model)[0]] == ["E223"]


def test_deployment_gate_must_evaluate_the_deployed_model(project):
    other = BASE["model.yaml"].replace("name: clf", "name: clf-two")
    found, compilation = diagnose(project, **{"model2_yaml": other},
                                  deploy_yaml=BASE["deploy.yaml"].replace("model: Model/clf", "model: Model/clf-two"))
    (d,) = compilation.diagnostics
    assert d.code == "E230" and "EvalGate/quality evaluates Model/clf" in d.message


def test_cel_syntax_located_in_the_expression(project):
    policy = """
        apiVersion: llmops/v1
        kind: Policy
        metadata: {name: p}
        spec:
          rule: "size(resource.spec.requires) >"
          message: m
        """
    found, compilation = diagnose(project, policy_yaml=policy)
    (d,) = compilation.diagnostics
    assert d.code == "E231" and (d.line, d.col) == (5, 40)
    filtered = BASE["datasets.yaml"].replace("- dedup: {columns: [text]}", "- filter: {expr: 'size(text) >= '}")
    assert [c for *_, c in diagnose(project, datasets_yaml=filtered)[0]] == ["E231"]


def test_metric_that_does_not_fit_the_task_warns(project):
    gate = BASE["gate.yaml"].replace("{metric: accuracy, min: 0.5}", "{metric: bleu, min: 0.5}")
    found, compilation = diagnose(project, gate_yaml=gate)
    assert [c for *_, c in found] == ["W103"] and compilation.ok


def test_duplicates_report_both_places(project):
    found, _ = diagnose(project, **{"copy_yaml": BASE["prompt.yaml"]})
    assert sorted(found) == [("copy.yaml", 3, 18, "E200"), ("prompt.yaml", 3, 18, "E200")]


def test_cycle_prints_its_path(project):
    derived = """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: a}
        spec:
          source: {dataset: Dataset/b}
          columns: {text: string}
        ---
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: b}
        spec:
          source: {dataset: Dataset/a}
          columns: {text: string}
        ---
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: selfish}
        spec:
          source: {dataset: Dataset/selfish}
          columns: {text: string}
        """
    _, compilation = diagnose(project, derived_yaml=derived)
    messages = sorted(d.message for d in compilation.diagnostics if d.code == "E204")
    assert messages == ["dependency cycle: Dataset/a -> Dataset/b -> Dataset/a",
                        "dependency cycle: Dataset/selfish -> Dataset/selfish"]


def test_a_file_that_fails_to_parse_softens_unknown_reference_hints(project):
    broken = BASE["datasets.yaml"] + "  oops: [\n"
    _, compilation = diagnose(project, datasets_yaml=broken)
    unknown = [d for d in compilation.diagnostics if d.code == "E201"]
    assert unknown and all("could not be parsed" in d.hint for d in unknown)
