"""The whole chain on real Ray, DVC and torch with a tiny model: prepare -> fine-tune -> evaluate ->
gate -> deploy on Serve; a real request; drift detected and fixed; a failed gate blocks the
deployment; a canary rollout; teardown when the Deployment leaves the specs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import pytest

from conftest import git_repo, run_llmops, write_project

pytestmark = pytest.mark.slow


def rows(n: int = 240, seed: int = 7) -> str:
    rng = random.Random(seed)
    good = ["great", "love", "excellent", "happy", "perfect", "wonderful"]
    bad = ["awful", "hate", "broken", "terrible", "refund", "angry"]
    out = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(good if label == "pos" else bad, 3) + [f"item{rng.randrange(1000)}"]
        out.append(json.dumps({"id": f"r{i}", "text": " ".join(words), "label": label, "lang": "en" if i % 3 else "de"}))
    return "\n".join(out) + "\n"


def tiny_classifier(name: str, epochs: int, seed: int) -> str:
    """A 1-layer BERT built from config (tokenizer trained on the data): a real fine-tune in seconds."""
    return textwrap.dedent(f"""
        apiVersion: llmops/v1
        kind: Model
        metadata: {{name: {name}}}
        spec:
          base: {{config: {{architecture: bert, vocab_size: 512, hidden_size: 32, num_hidden_layers: 1,
                           num_attention_heads: 2, intermediate_size: 64}}}}
          task: sequence-classification
          labels: [neg, pos]
          finetune:
            dataset: Dataset/reviews@train
            method: full
            training: {{epochs: {epochs}, learning_rate: 0.005, batch_size: 16, max_seq_len: 16, seed: {seed}}}
          resources: {{num_cpus: 1}}
        """)


def specs(accuracy_min: float = 0.6, min_samples: int = 20, replicas: int = 1, epochs: int = 15, with_deployment: bool = True) -> dict[str, str]:
    files = {
        "data/reviews.jsonl": rows(),
        "dataset.yaml": """
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {name: reviews}
            spec:
              source: {path: data/reviews.jsonl}
              columns: {id: string, text: string, label: string, lang: string}
              transforms:
                - dedup: {columns: [text]}
              splits: {train: 0.75, eval: 0.25, seed: 1, stratify_by: label}
            """,
        "model.yaml": tiny_classifier("sentiment", epochs, seed=3),
        "gate.yaml": f"""
            apiVersion: llmops/v1
            kind: EvalGate
            metadata: {{name: quality}}
            spec:
              model: Model/sentiment
              dataset: Dataset/reviews@eval
              min_samples: {min_samples}
              metrics:
                - {{metric: accuracy, min: {accuracy_min}}}
            """,
    }
    if with_deployment:
        files["deployment.yaml"] = f"""
            apiVersion: llmops/v1
            kind: Deployment
            metadata: {{name: sentiment-api}}
            spec:
              model: Model/sentiment
              requires: [EvalGate/quality]
              serve:
                route_prefix: /sentiment
                num_replicas: {replicas}
                ray_actor_options: {{num_cpus: 0.25}}
              rollout: {{strategy: canary, steps: [50, 100]}}
            """
    return {name: textwrap.dedent(text) if name.endswith(".yaml") else text for name, text in files.items()}


def serve_call(cluster, code: str) -> str:
    """Run ``code`` in a fresh Python connected to the cluster (serve imported); its stdout."""
    script = "import ray\nfrom ray import serve\nray.init(address=%r, namespace='llmops', log_to_driver=False)\n%s" % (
        cluster.address, textwrap.dedent(code))
    import os

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **cluster.env()})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_prepare_train_gate_deploy_drift_canary_teardown(tmp_path, ray_cluster):
    from runners.steps.deploy import request

    repo = tmp_path / "repo"
    write_project(repo / "specs", specs())
    git_repo(repo)
    # An existing cluster (--address): the drift check asks the dashboard the environment names, never one in the lock.
    env = {**ray_cluster.env(), "RAY_DASHBOARD_ADDRESS": ray_cluster.dashboard_url}
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0

    def apply(*extra: str):
        return run_llmops("apply", "specs", "--yes", "--address", ray_cluster.address, *extra, cwd=repo, env=env)

    def lock():
        return json.loads((repo / "specs" / "llmops.lock").read_text())["nodes"]

    # 1. The whole chain, then a real request.
    first = apply()
    assert first.returncode == 0, first.stdout + first.stderr
    deployed = lock()["Deployment/sentiment-api:deploy"]["outputs"]["serve"]
    assert "dashboard_url" not in deployed  # the lock names no URL a credential would go to
    answer = request(deployed["url"], {"text": "love great perfect"})
    assert answer["prediction"] in ("neg", "pos") and answer["version"] == deployed["version"]
    assert lock()["EvalGate/quality:gate"]["metrics"]["passed"] is True

    # 2. A second apply is a no-op; the app disappearing is drift, planned and fixed.
    assert "No changes" in apply().stdout
    serve_call(ray_cluster, "serve.delete('sentiment-api')")
    plan = run_llmops("plan", "specs", cwd=repo, env=env)
    assert "drift: Serve application sentiment-api is not running" in plan.stdout, plan.stdout + plan.stderr
    fixed = apply()
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert request(deployed["url"], {"text": "awful broken"})["version"] == deployed["version"]

    # 3a. A gate setting edited re-checks the deployment but rolls nothing new out.
    write_project(repo / "specs", {"gate.yaml": specs(min_samples=30)["gate.yaml"]})
    rechecked = apply()
    assert rechecked.returncode == 0, rechecked.stdout + rechecked.stderr
    assert f"already serving {deployed['version']}" in rechecked.stdout

    # 3. A gate the model cannot pass (too few samples: it fails closed) stops the deployment (exit 3);
    #    the old version keeps serving.
    write_project(repo / "specs", {"gate.yaml": specs(min_samples=1000)["gate.yaml"]})
    blocked = apply()
    assert blocked.returncode == 3, blocked.stdout + blocked.stderr
    assert "EvalGate/quality:gate" in blocked.stdout and "not run" in blocked.stdout
    assert lock()["EvalGate/quality:gate"]["metrics"]["passed"] is False
    assert request(deployed["url"], {"text": "happy"})["version"] == deployed["version"]

    # 4. A new model passes and rolls out as a canary: both versions answered during the rollout.
    write_project(repo / "specs", {"gate.yaml": specs()["gate.yaml"], "model.yaml": specs(epochs=16)["model.yaml"]})
    canary = apply()
    assert canary.returncode == 0, canary.stdout + canary.stderr
    now = lock()["Deployment/sentiment-api:deploy"]["outputs"]["serve"]
    assert now["version"] != deployed["version"]
    assert "canary 50% -> 100%" in canary.stdout
    assert request(now["url"], {"text": "happy"})["version"] == now["version"]

    # 5. Removing the Deployment tears its application down.
    (repo / "specs" / "deployment.yaml").unlink()
    gone = apply()
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "Serve application sentiment-api deleted" in gone.stdout
    assert "sentiment-api" not in serve_call(ray_cluster, "print(list(serve.status().applications))")
    assert "Deployment/sentiment-api:deploy" not in lock()
