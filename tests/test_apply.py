"""apply end to end on a real local Ray cluster and real DVC: create, update, delete, no-op,
stale plans, concurrent applies, and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git_repo, run_llmops, write_project
from tests.projects import BASE

pytestmark = pytest.mark.slow


def prompt(name: str, value: str = "world") -> str:
    return f"""
    apiVersion: llmops/v1
    kind: Prompt
    metadata: {{name: {name}}}
    spec:
      template: "Hello {{{{ who }}}} from {name}"
      variables:
        who: {{value: {value}}}
    """


@pytest.fixture
def prompts_repo(tmp_path, ray_cluster):
    """A git repo whose specs/ holds three Prompts, initialized for apply with a local DVC remote."""
    repo = tmp_path / "repo"
    write_project(repo / "specs", {f"p{i}.yaml": prompt(f"p{i}") for i in range(3)})
    git_repo(repo)
    done = run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo)
    assert done.returncode == 0, done.stderr
    return repo


def apply(repo: Path, cluster, *args: str) -> subprocess.CompletedProcess:
    return run_llmops("apply", *args, "--address", cluster.address, cwd=repo, env=cluster.env())


def lock_of(repo: Path) -> dict:
    return json.loads((repo / "specs" / "llmops.lock").read_text())["nodes"]


def test_create_then_noop_then_update_and_delete(prompts_repo, ray_cluster, tmp_path):
    first = apply(prompts_repo, ray_cluster, "specs", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 applied" in first.stdout
    nodes = lock_of(prompts_repo)
    assert sorted(nodes) == ["Prompt/p0:prompt", "Prompt/p1:prompt", "Prompt/p2:prompt"]
    out = nodes["Prompt/p1:prompt"]["outputs"]
    (folder, md5), = out.items()
    assert folder == "artifacts/prompt/p1/prompt" and md5.endswith(".dir")
    assert (prompts_repo / "specs" / "artifacts/prompt/p1/prompt.dvc").exists()
    # on a cluster of --address, artifacts are checked on the remote, not brought here; llmops pull brings them
    assert not (prompts_repo / "specs" / folder).exists() and "`llmops pull` restores them" in first.stdout
    pulled = run_llmops("pull", "specs", cwd=prompts_repo)
    assert pulled.returncode == 0 and "Restored 3 artifacts." in pulled.stdout, pulled.stdout + pulled.stderr
    assert json.loads((prompts_repo / "specs" / folder / "prompt.json").read_text())["template"].endswith("p1")
    assert any((tmp_path / "remote").rglob("*")), "the artifacts were pushed to the DVC remote"
    assert nodes["Prompt/p1:prompt"]["applied_by"] == "CI <ci@example.com>"
    assert len(nodes["Prompt/p1:prompt"]["commit"]) == 40

    again = apply(prompts_repo, ray_cluster, "specs", "--yes")
    assert again.returncode == 0 and "No changes" in again.stdout
    assert lock_of(prompts_repo) == nodes

    write_project(prompts_repo / "specs", {"p1.yaml": prompt("p1", "there")})
    (prompts_repo / "specs" / "p2.yaml").unlink()
    planned = run_llmops("plan", "specs", "-o", "plan.json", cwd=prompts_repo)
    assert planned.returncode == 0, planned.stderr
    applied = apply(prompts_repo, ray_cluster, "plan.json", "--project", "specs", "--pull")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "llmops pull" not in applied.stdout, "--pull brought each artifact here"
    assert '"there"' in (prompts_repo / "specs" / folder / "prompt.json").read_text(), "the new version, here"
    after = lock_of(prompts_repo)
    assert sorted(after) == ["Prompt/p0:prompt", "Prompt/p1:prompt"]
    assert after["Prompt/p0:prompt"] == nodes["Prompt/p0:prompt"], "an unchanged node is not redone"
    assert after["Prompt/p1:prompt"]["fingerprint"] != nodes["Prompt/p1:prompt"]["fingerprint"]
    assert not (prompts_repo / "specs" / "artifacts/prompt/p2").exists()


def test_a_stale_plan_is_refused(prompts_repo, ray_cluster):
    assert run_llmops("plan", "specs", "-o", "plan.json", cwd=prompts_repo).returncode == 0
    write_project(prompts_repo / "specs", {"p0.yaml": prompt("p0", "moved")})
    refused = apply(prompts_repo, ray_cluster, "plan.json", "--project", "specs")
    assert refused.returncode == 1
    assert "refusing a stale plan: the specs changed since the plan was made" in refused.stderr
    assert not (prompts_repo / "specs" / "llmops.lock").exists()


def test_a_standing_policy_error_refuses_apply_with_exit_4_and_a_waiver_lifts_it(prompts_repo, ray_cluster):
    write_project(prompts_repo / "specs", {"policy.yaml": """
        apiVersion: llmops/v1
        kind: Policy
        metadata: {name: no-p1}
        spec:
          severity: error
          match: {kinds: [Prompt]}
          rule: "resource.metadata.name != 'p1'"
          message: p1 is retired
        """})
    refused = apply(prompts_repo, ray_cluster, "specs", "--yes")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "1 policy error(s) stand; nothing was applied" in refused.stderr
    assert "specs/p1.yaml:3:18: error[P100] Prompt/p1 violates no-p1: p1 is retired" in refused.stdout  # at the resource
    assert not (prompts_repo / "specs" / "llmops.lock").exists()
    write_project(prompts_repo / "specs", {"waiver.yaml": """
        apiVersion: llmops/v1
        kind: Waiver
        metadata: {name: p1-until-migrated, owner: lead@example.com}
        spec:
          policy: Policy/no-p1
          resources: [Prompt/p1]
          reason: its callers migrate this quarter
          owner: lead@example.com
          expires: 2999-01-01
        """})
    waived = apply(prompts_repo, ray_cluster, "specs", "--yes")
    assert waived.returncode == 0, waived.stdout + waived.stderr
    assert "Prompt/p1:prompt" in lock_of(prompts_repo)
    lines = (prompts_repo / "specs" / "llmops.applies.jsonl").read_text().splitlines()
    [record] = [r for r in map(json.loads, lines) if r.get("kind") == "apply"]  # after the run's landing records
    assert record["waivers"] == ["Waiver/p1-until-migrated"] and record["result"] == "applied"


def test_without_yes_apply_asks_and_a_no_applies_nothing(prompts_repo, ray_cluster):
    script = Path(sys.executable).with_name("llmops")
    asked = subprocess.run([str(script), "apply", "specs", "--address", ray_cluster.address], cwd=prompts_repo,
                           input="n\n", capture_output=True, text=True, timeout=120, env={**os.environ, **ray_cluster.env()})
    assert asked.returncode == 0 and "Apply these changes? [y/N]" in asked.stdout and "Nothing applied." in asked.stdout
    assert not (prompts_repo / "specs" / "llmops.lock").exists()


def test_a_second_concurrent_apply_is_refused_naming_the_holder(prompts_repo, ray_cluster):
    from runners.state import state_guard

    with state_guard(prompts_repo / "specs"):
        refused = apply(prompts_repo, ray_cluster, "specs", "--yes")
    assert refused.returncode == 1
    assert "another apply is running: the state is locked by" in refused.stderr
    assert f"pid {os.getpid()}" in refused.stderr


def dataset_chain(length: int) -> dict[str, str]:
    """Datasets each derived from the one before: they run, and land in the lock, one after another."""
    files = {"data/t.jsonl": "".join(f'{{"text": "ticket number {i}", "label": "a"}}\n' for i in range(20))}
    for i in range(length):
        source = "{path: data/t.jsonl}" if i == 0 else f"{{dataset: Dataset/d{i - 1:02}}}"
        files[f"d{i:02}.yaml"] = f"""
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {{name: d{i:02}}}
            spec:
              source: {source}
              columns: {{text: string, label: string}}
            """
    return files


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_resume_after_kill_9_or_ctrl_c_does_not_redo_finished_nodes(tmp_path, ray_cluster, how):
    repo, length = tmp_path / "repo", 12
    write_project(repo / "specs", dataset_chain(length))
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    script = Path(sys.executable).with_name("llmops")
    output = tmp_path / "victim.log"
    with open(output, "wb") as out:
        victim = subprocess.Popen([str(script), "apply", "specs", "--yes", "--address", ray_cluster.address], cwd=repo,
                                  env={**os.environ, **ray_cluster.env()}, stdout=out, stderr=subprocess.STDOUT)
    lock = repo / "specs" / "llmops.lock"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and victim.poll() is None:
        if lock.exists() and len(json.loads(lock.read_text())["nodes"]) >= 3:
            break
        time.sleep(0.05)
    victim.send_signal(how)
    code = victim.wait(timeout=120)
    # Ctrl-C: the running tasks cancelled, exit 130
    assert code == (130 if how == signal.SIGINT else -signal.SIGKILL), output.read_text(errors="replace")[-4000:]
    before = json.loads(lock.read_text())["nodes"]
    assert 3 <= len(before) < length, f"the signal landed after {len(before)} nodes; the test needs it mid-apply"
    resumed = apply(repo, ray_cluster, "specs", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = lock_of(repo)
    assert len(after) == length
    for nid, entry in before.items():
        assert after[nid] == entry, f"{nid} was redone"
    assert f"{length - len(before)} applied" in resumed.stdout


def test_a_failing_node_reports_its_own_error_and_blocks_its_dependents(tmp_path, ray_cluster):
    repo = tmp_path / "repo"
    write_project(repo / "specs", {
        "data/t.jsonl": '{"text": "fine", "label": "a"}\n{"text": "broken", "label": \n',
        "dataset.yaml": """
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {name: tickets}
            spec:
              source: {path: data/t.jsonl}
              columns: {text: string, label: string}
              splits: {train: 0.5, eval: 0.5, seed: 1}
            """,
        "model.yaml": BASE["model.yaml"],
        "prompt.yaml": """
            apiVersion: llmops/v1
            kind: Prompt
            metadata: {name: classify}
            spec:
              template: "Classify: {{ text }}"
              variables:
                text: {from: Dataset/tickets}
            """,
        "other.yaml": prompt("other")})
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    failed = apply(repo, ray_cluster, "specs", "--yes")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "data/t.jsonl:2" in out and "Traceback" not in out and "RayTaskError" not in out
    assert "Model/clf:finetune" in out and "not run: Dataset/tickets:prepare did not succeed" in out
    assert sorted(lock_of(repo)) == ["Prompt/classify:prompt", "Prompt/other:prompt"]  # what could run, ran and is kept


def test_a_fresh_clone_restores_every_artifact_with_pull(prompts_repo, ray_cluster, tmp_path):
    assert apply(prompts_repo, ray_cluster, "specs", "--yes").returncode == 0
    for args in (["add", "-A"], ["commit", "-qm", "applied"]):
        subprocess.run(["git", *args], cwd=prompts_repo, check=True, capture_output=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(prompts_repo), str(clone)], check=True, capture_output=True)
    assert not (clone / "specs/artifacts/prompt/p0/prompt").exists(), "artifacts are not in git"
    pulled = run_llmops("pull", "specs", cwd=clone)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "Restored 3 artifacts." in pulled.stdout
    restored = json.loads((clone / "specs/artifacts/prompt/p0/prompt/prompt.json").read_text())
    assert restored["template"] == "Hello {{ who }} from p0"
    noop = apply(clone, ray_cluster, "specs", "--yes")
    assert "No changes" in noop.stdout, "a clone with the lock plans nothing"
