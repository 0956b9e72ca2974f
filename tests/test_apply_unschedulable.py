"""apply on a CPU-only cluster: a node (a fine-tune, a prepare, a deployment's replicas) that asks for what no node
has fails at once, naming it; the rest runs."""

from __future__ import annotations

import json
import time

import pytest

from conftest import git_repo, run_llmops, write_project
from test_apply_deploy import specs

pytestmark = pytest.mark.slow


def test_nodes_asking_for_a_gpu_or_a_custom_resource_the_cluster_lacks_fail_at_once(tmp_path, ray_cluster):
    repo = tmp_path / "repo"
    project = specs(epochs=1, with_deployment=False)
    project["model.yaml"] = project["model.yaml"].replace("resources: {num_cpus: 1}", "resources: {num_cpus: 1, num_gpus: 1}")
    project["ssd.yaml"] = """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: on-ssd}
        spec:
          source: {path: data/reviews.jsonl}
          columns: {id: string, text: string, label: string, lang: string}
          resources: {custom: {ssd: 1}}
        """
    project["serve.yaml"] = """
        apiVersion: llmops/v1
        kind: Model
        metadata: {name: plain}
        spec:
          base: {config: {architecture: bert, vocab_size: 300, hidden_size: 32, num_hidden_layers: 1,
                          num_attention_heads: 2, intermediate_size: 64}}
          task: sequence-classification
          labels: [neg, pos]
        ---
        apiVersion: llmops/v1
        kind: Deployment
        metadata: {name: on-gpus}
        spec:
          model: Model/plain
          serve: {num_replicas: 2, ray_actor_options: {num_cpus: 0.5, num_gpus: 1}}
        """
    write_project(repo / "specs", project)
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    started = time.monotonic()
    failed = run_llmops("apply", "specs", "--yes", "--address", ray_cluster.address, cwd=repo, env=ray_cluster.env(),
                        timeout=300)  # before: Ray queued both nodes forever and apply never returned
    seconds = time.monotonic() - started
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "Model/sentiment:finetune cannot be scheduled on this cluster: it asks for 1 GPU; no node has any" in out
    assert "Dataset/on-ssd:prepare cannot be scheduled on this cluster: it asks for 1 of custom resource ssd" in out
    assert "Deployment/on-gpus:deploy cannot be scheduled on this cluster: it asks for 1 GPU per replica; no node has any" in out
    assert "ray start --num-gpus" in out and "Traceback" not in out
    assert "not run: Model/sentiment:finetune did not succeed" in out
    lock = json.loads((repo / "specs" / "llmops.lock").read_text())["nodes"]
    assert sorted(lock) == ["Dataset/reviews:prepare", "Model/plain:import"]  # what can run, ran
    assert seconds < 120, seconds
