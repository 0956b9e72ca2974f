"""The llmops command end to end: exit codes, formats, golden outputs, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmops_cli.main import main
from tests.conftest import REPO
from compiler.render.plan import MARKDOWN_LIMIT
from tests.projects import BASE, files
from tests.test_fingerprint_and_plan import lock_from


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_validate_clean_example_exits_0(capsys, example):
    code, out, err = run(capsys, "validate", str(example))
    assert (code, out, err.strip()) == (0, "", "no problems found")


def test_validate_errors_exit_1_with_located_text(capsys, project, monkeypatch):
    root = project(files(model_yaml=BASE["model.yaml"].replace("lora: {r: 4}", "lora: {r: 0}")))
    monkeypatch.chdir(root)
    code, out, err = run(capsys, "validate", ".")
    assert code == 1
    assert out.splitlines() == [
        "model.yaml:11:15: error[E103] spec.finetune.lora.r must be > 0, got 0",
        "   11 |     lora: {r: 0}",
        "      |               ^",
        "  hint: r: rank of the adapter matrices.",
    ]
    assert err.strip() == "1 error"


def test_validate_json_and_github_formats(capsys, project, monkeypatch):
    root = project(files(gate_yaml=BASE["gate.yaml"].replace("metric: accuracy, min: 0.5", "metric: acuracy, min: 0.5")))
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "validate", ".", "--format", "json")
    body = json.loads(out)
    assert code == 1 and body["ok"] is False and body["errors"] == 1
    assert body["diagnostics"][0] == {"file": "gate.yaml", "line": 8, "col": 16, "code": "E105", "severity": "error",
                                      "message": "spec.metrics[0].metric: unknown metric 'acuracy'",
                                      "hint": "did you mean accuracy?"}
    code, out, _ = run(capsys, "validate", ".", "--format", "github")
    assert out.strip() == ("::error file=gate.yaml,line=8,col=16,title=E105 unknown metric::"
                           "spec.metrics[0].metric: unknown metric 'acuracy'%0Ahint: did you mean accuracy?")


def test_paths_are_shown_relative_to_the_current_folder(capsys, project, monkeypatch):
    root = project(files(model_yaml=BASE["model.yaml"].replace("lora: {r: 4}", "lora: {r: 0}")))
    monkeypatch.chdir(root.parent)
    _, out, _ = run(capsys, "validate", root.name)
    assert out.startswith(f"{root.name}/model.yaml:11:15: error[E103]")


def test_missing_path_is_a_diagnostic(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", str(tmp_path / "nope"))
    assert code == 1 and "E001" in out and "does not exist" in out


def test_plan_golden_text_json_markdown(capsys, example, monkeypatch, file_regression):
    monkeypatch.chdir(example)
    code, text, _ = run(capsys, "plan", ".", "-o", "plan.json")
    assert code == 0
    file_regression.check(text, basename="plan_example_text", extension=".txt")
    saved = (example / "plan.json").read_text()
    code, as_json, _ = run(capsys, "plan", ".", "--format", "json")
    assert as_json == saved
    file_regression.check(saved, basename="plan_example", extension=".json")
    code, markdown, _ = run(capsys, "plan", ".", "--format", "markdown")
    file_regression.check(markdown, basename="plan_example_markdown", extension=".md")


def test_plan_detailed_exitcode(capsys, project):
    root = project(files())
    assert run(capsys, "plan", str(root), "--detailed-exitcode")[0] == 2
    assert run(capsys, "plan", str(root))[0] == 0
    broken = project(files(model_yaml=BASE["model.yaml"].replace("task:", "tsk:")))
    assert run(capsys, "plan", str(broken), "--detailed-exitcode")[0] == 1
    lock_from(root)  # everything applied as planned: nothing changes
    code, out, _ = run(capsys, "plan", str(root), "--detailed-exitcode", "--no-refresh")
    assert code == 0 and out.startswith("No changes. 6 nodes up to date.")


def test_the_markdown_plan_with_its_policy_section_stays_under_the_comment_limit(capsys, project):
    prompt = ("apiVersion: llmops/v1\nkind: Prompt\nmetadata: {{name: prompt-{i:04}}}\n"
              "spec:\n  template: 'Answer {{{{ q }}}} in the voice of a long-winded narrator number {i}'\n"
              "  variables: {{q: {{value: x}}}}\n")
    root = project({f"prompts/team-with-a-long-name/prompt-{i:04}.yaml": prompt.format(i=i) for i in range(900)})
    code, markdown, _ = run(capsys, "plan", str(root), "--format", "markdown", "--no-refresh")
    assert code == 0 and len(markdown.encode()) < MARKDOWN_LIMIT
    assert "more changes not shown* |" in markdown and "more not shown* |" in markdown  # both tables cut, both say so
    assert "**900 warnings" in markdown or "900 warning" in markdown  # the counts stay whole


def test_graph_formats(capsys, example, file_regression):
    for fmt, ext in (("text", ".txt"), ("dot", ".dot"), ("mermaid", ".mmd")):
        code, out, _ = run(capsys, "graph", str(example), "--format", fmt)
        assert code == 0
        file_regression.check(out, basename=f"graph_example_{fmt}", extension=ext)


def test_fmt_check_and_rewrite_keep_comments(capsys, project):
    messy = """
        kind: Prompt
        apiVersion: llmops/v1
        metadata:
            name: classify   # keep me
        spec:
              template: "Classify: {{ text }}"
              variables:
                text: {from: Dataset/tickets}
        """
    root = project(files(prompt_yaml=messy))
    code, _, err = run(capsys, "fmt", str(root), "--check")
    assert code == 1 and "would reformat" in err
    assert run(capsys, "fmt", str(root))[0] == 0
    text = (root / "prompt.yaml").read_text()
    assert text.startswith("apiVersion: llmops/v1\nkind: Prompt\n") and "# keep me" in text
    assert run(capsys, "fmt", str(root), "--check")[0] == 0


def test_schema_command_prints_and_checks(capsys, tmp_path):
    code, out, _ = run(capsys, "schema")
    assert code == 0 and json.loads(out)["$schema"] == "http://json-schema.org/draft-07/schema#"
    code, out, _ = run(capsys, "schema", "--kind", "Model")
    assert json.loads(out)["title"] == "Model"
    assert run(capsys, "schema", "-o", str(tmp_path), "--check")[0] == 1
    assert run(capsys, "schema", "-o", str(tmp_path))[0] == 0
    assert run(capsys, "schema", "-o", str(tmp_path), "--check")[0] == 0


def test_usage_errors_exit_1_like_terraform(capsys):
    code, _, err = run(capsys, "plan", "--format", "yaml")
    assert code == 1 and "Invalid value" in err


def test_installed_entry_point_runs_the_example():
    exe = shutil.which("llmops", path=str(Path(sys.executable).parent))
    assert exe, "the llmops script is installed beside this python"
    result = subprocess.run([exe, "plan", "specs", "--detailed-exitcode"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_every_diagnostic_code_is_documented():
    from compiler.diagnostics import CODES

    documented = (REPO / "docs" / "diagnostics.md").read_text()
    assert [code for code in CODES if f"| {code} |" not in documented] == []


def test_files_named_in_hints_are_shown_from_the_current_folder_too(capsys, project, monkeypatch):
    root = project(files(model_yaml=BASE["model.yaml"].replace("Dataset/tickets@train", "Dataset/ticket@train")))
    monkeypatch.chdir(root.parent)
    _, out, _ = run(capsys, "validate", root.name)
    assert f"hint: did you mean Dataset/tickets ({root.name}/datasets.yaml:3)?" in out
