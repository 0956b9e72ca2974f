"""Where and how fast a node runs is not what it produces: resources, workers and gradient checkpointing stay out
of fingerprints; precision, which computes other numbers, is in them (fp32 as it always was)."""

from __future__ import annotations

from compiler import compile_project
from compiler.fingerprint import fingerprint_graph
from tests.projects import BASE, files
from test_fingerprint_and_plan import prints_of

TRAINING_BEFORE_PRECISION = {"epochs", "learning_rate", "batch_size", "gradient_accumulation_steps", "max_seq_len",
                             "max_steps", "warmup_ratio", "weight_decay", "seed"}


def spec_line(text: str, line: str) -> str:
    """``text`` (a BASE file, indented as written there) with ``line`` added to its spec."""
    return text.rstrip(" ") + f"          {line}\n"


def model_with(training: str = "epochs: 1", resources: str | None = None) -> str:
    text = BASE["model.yaml"].replace("training: {epochs: 1}", f"training: {{{training}}}")
    return spec_line(text, f"resources: {resources}") if resources else text


def test_resources_workers_and_checkpointing_change_no_fingerprint(project):
    before = prints_of(project(files()))
    moved = files(
        model_yaml=model_with("epochs: 1, gradient_checkpointing: true",
                              "{num_cpus: 4, num_gpus: 1, memory_gb: 16, accelerator_type: A100, custom: {ssd: 1}, workers: 4}"),
        datasets_yaml=spec_line(BASE["datasets.yaml"], "resources: {num_cpus: 2, custom: {ssd: 1}}"),
        gate_yaml=spec_line(BASE["gate.yaml"], "resources: {num_gpus: 1}"))
    assert prints_of(project(moved)) == before


def test_replica_options_are_what_a_deployment_runs_and_added_ones_count_only_when_set(project):
    before = prints_of(project(files()))
    spelled = spec_line(BASE["deploy.yaml"], "serve: {ray_actor_options: {num_cpus: 1, num_gpus: 0}}")
    assert prints_of(project(files(deploy_yaml=spelled))) == before
    for options in ("{num_gpus: 1}", "{num_gpus: 1, accelerator_type: L4}", "{resources: {ssd: 1}}"):
        moved = prints_of(project(files(deploy_yaml=spec_line(BASE["deploy.yaml"], f"serve: {{ray_actor_options: {options}}}"))))
        assert {nid for nid in before if before[nid] != moved[nid]} == {"Deployment/prod:deploy"}, options


def test_precision_changes_the_finetune_and_what_reads_it(project):
    before = prints_of(project(files()))
    assert prints_of(project(files(model_yaml=model_with("epochs: 1, precision: fp32")))) == before
    after = prints_of(project(files(model_yaml=model_with("epochs: 1, precision: bf16"))))
    changed = {nid for nid in before if before[nid] != after[nid]}
    assert changed == {"Model/clf:finetune", "EvalGate/quality:evaluate", "EvalGate/quality:gate", "Deployment/prod:deploy"}
    assert after != prints_of(project(files(model_yaml=model_with("epochs: 1, precision: fp16"))))


def test_a_finetune_that_uses_no_new_field_keeps_the_fingerprint_it_had(project):
    """The training view of a default spec holds exactly the fields there were before precision existed."""
    compilation = compile_project(project(files()), use_cache=False)
    view = fingerprint_graph(compilation.project, compilation.graph)["Model/clf:finetune"].spec
    assert set(view["finetune"]["training"]) == TRAINING_BEFORE_PRECISION and "resources" not in view
