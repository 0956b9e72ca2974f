"""apply on a 2-node Ray cluster (ray.cluster_utils.Cluster), losing the worker node mid-apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import git_repo, ray_token_auth, run_llmops, write_project
from test_apply_deploy import rows, tiny_classifier

pytestmark = pytest.mark.slow


@pytest.fixture
def two_nodes(ray_test_token):
    """A head (1 CPU) and a worker (2 CPUs), token auth on with a test-only token (conftest.ray_token_auth)."""
    from ray.cluster_utils import Cluster

    with ray_token_auth(ray_test_token) as env:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        worker = cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        yield cluster, worker, env
        cluster.shutdown()


def test_apply_survives_losing_a_worker_node(tmp_path, two_nodes):
    cluster, worker, env = two_nodes
    repo = tmp_path / "repo"
    files = {"data/reviews.jsonl": rows(), "dataset.yaml": textwrap.dedent("""
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: reviews}
        spec:
          source: {path: data/reviews.jsonl}
          columns: {id: string, text: string, label: string, lang: string}
          splits: {train: 0.75, eval: 0.25, seed: 1}
        """)}
    files.update({f"model-{i}.yaml": tiny_classifier(f"m{i}", epochs=40, seed=i) for i in range(3)})
    write_project(repo / "specs", files)
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    script = Path(sys.executable).with_name("llmops")
    log = tmp_path / "apply.log"
    with open(log, "w") as out:
        apply = subprocess.Popen([str(script), "apply", "specs", "--yes", "--pull", "--address", cluster.address], cwd=repo,
                                 env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and apply.poll() is None and log.read_text().count("▸ Model/") < 3:
            time.sleep(0.1)
        time.sleep(2)  # the fine-tunes are running, two of them on the worker
        cluster.remove_node(worker)
        assert apply.wait(timeout=600) == 0, log.read_text()
    lock = json.loads((repo / "specs" / "llmops.lock").read_text())["nodes"]
    assert sorted(lock) == ["Dataset/reviews:prepare", "Model/m0:finetune", "Model/m1:finetune", "Model/m2:finetune"]
    for i in range(3):
        assert (repo / "specs" / f"artifacts/model/m{i}/finetune/llmops_model.json").exists()
