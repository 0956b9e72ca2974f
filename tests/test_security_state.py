"""Issue 15, the state an attacker edits: llmops.lock and the apply log are written by apply only.

Each test is the attack: a gate's ``metrics.passed`` flipped in the lock, a lock entry
edited without a record, a forged tail re-hashed with care, an apply killed with -9 after
a node landed, a saved plan whose data changed, a lock of the wrong shape, a pull request
that edits the lock. Each asserts the refusal and that nothing ran. The slow ones share
one applied project per scenario on the session's real Ray cluster and real DVC. The pure
deciders behind them are unit-tested in tests/test_state_trust.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from compiler.audit.applylog import APPLY_LOG_NAME, all_records, chain_record, read_log_bytes
from compiler.audit.chain import verify_chain
from compiler.lockfile import LOCK_NAME, LockEntry, read_lock
from compiler.policy.state_diff import LOCK_RULE
from compiler.state_trust import read_trusted_lock, unvouched_entries
from runners.apply_log import LogWriter
from tests.conftest import git_repo, run_llmops, write_project
from tests.projects import BASE, files
from tests.state_helpers import KEY, write_vouched_lock


def test_an_evaluation_is_read_by_md5_and_an_altered_or_missing_object_is_refused(tmp_path):
    """Real DVC: the bytes come from the object the md5 names, checked; the workspace copy is never read."""
    from runners.dvc_store import Store, init_project
    from runners.objects import push_folder
    from runners.verified_read import Unverified, read_verified_file

    root = tmp_path / "p"
    git_repo(root)
    init_project(root, str(tmp_path / "remote"))
    folder = root / "artifacts/evalgate/quality/evaluate"
    out = tmp_path / "task-out"  # the evaluation as its task wrote and pushed it
    out.mkdir()
    (out / "metrics.json").write_text('{"n": 40, "metrics": {"accuracy": 0.5}}\n')
    store = Store(root)
    try:
        md5 = store.land(folder, push_folder(store.remote(), out, "EvalGate/quality:evaluate"))
        (folder / "metrics.json").unlink()  # what the workspace holds does not matter
        (folder / "metrics.json").write_text('{"n": 40, "metrics": {"accuracy": 1.0}}\n')
        assert json.loads(read_verified_file(store, md5, "metrics.json"))["metrics"]["accuracy"] == 0.5
        with pytest.raises(Unverified, match="holds no verdict.json"):
            read_verified_file(store, md5, "verdict.json")
        listing = orjson.loads(Path(store.repo.cache.local.oid_to_path(md5)).read_bytes())
        oid = next(e["md5"] for e in listing if e["relpath"] == "metrics.json")
        for odb_root in (root / ".dvc/cache/files/md5", tmp_path / "remote/files/md5"):
            target = odb_root / oid[:2] / oid[2:]
            target.chmod(0o644)
            target.write_text('{"n": 40, "metrics": {"accuracy": 1.0}}\n')
        with pytest.raises(Unverified, match="does not hash to its md5: it was altered"):
            read_verified_file(store, md5, "metrics.json")
        for odb_root in (root / ".dvc/cache/files/md5", tmp_path / "remote/files/md5"):
            (odb_root / md5[:2] / md5[2:]).unlink()
        with pytest.raises(Unverified, match="hold no object"):
            read_verified_file(store, md5, "metrics.json")
        with pytest.raises(Unverified, match="not the md5 of a versioned folder"):
            read_verified_file(store, "../../etc/passwd", "metrics.json")
    finally:
        store.close()


# ----------------------------------------------------------------------------- the CLI, no Ray
def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return run_llmops(*args, cwd=cwd, env={"LLMOPS_LOG_KEY": "", **env})


@pytest.fixture
def vouched(tmp_path) -> Path:
    """The test project, its lock written as apply writes it (each entry vouched for by a landing record)."""
    from compiler import compile_project
    from compiler.fingerprint import fingerprint_graph

    clean = BASE["datasets.yaml"].replace('labels: {pii: "true"}, ', "")  # no policy error stands: apply gets to the lock
    root = write_project(tmp_path / "specs", files(datasets_yaml=clean))
    compilation = compile_project(root, use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    write_vouched_lock(root, {nid: LockEntry(fp.value, fp.step, str(compilation.graph.nodes[nid].resource), fp.code,
                                             fp.spec, fp.inputs, fp.data, metrics={"passed": False} if fp.step == "gate" else {})
                              for nid, fp in prints.items()})
    return root


def test_a_lock_entry_edited_without_a_record_is_refused_by_plan_apply_and_verify(vouched):
    assert cli("plan", ".", "--no-refresh", cwd=vouched).returncode == 0
    lock = vouched / LOCK_NAME
    lock.write_text(lock.read_text().replace('"passed": false', '"passed": true'))
    before = (lock.read_bytes(), read_log_bytes(vouched))
    line = next(i for i, text in enumerate(lock.read_text().splitlines(), 1) if '"passed": true' in text)
    planned = cli("plan", ".", "--no-refresh", cwd=vouched)
    assert planned.returncode == 1
    assert f"llmops.lock:{line}:" in planned.stdout + planned.stderr and "error[E303]" in planned.stdout + planned.stderr
    assert "metrics.passed differs" in planned.stdout + planned.stderr and "restore it from git" in planned.stdout + planned.stderr
    applied = cli("apply", ".", "--yes", cwd=vouched)
    assert applied.returncode == 1 and "E303" in applied.stdout + applied.stderr
    assert not (vouched / ".llmops" / "ray").exists(), "no cluster was started"
    verified = cli("audit", "verify", ".", cwd=vouched)
    assert verified.returncode == 1 and "unvouched" in verified.stdout and "EvalGate/quality:gate" in verified.stdout
    pulled = cli("pull", ".", cwd=vouched)
    assert pulled.returncode == 1 and "is not vouched for" in pulled.stderr and "restore it from git" in pulled.stderr
    assert (lock.read_bytes(), read_log_bytes(vouched)) == before, "nothing was written"


def test_pull_restores_nothing_outside_the_project_whatever_a_vouched_lock_names(tmp_path):
    root = write_project(tmp_path / "specs", files())
    write_vouched_lock(root, {"Dataset/x:prepare": LockEntry("f" * 64, "prepare", "Dataset/x", "prepare/1", {}, {}, {},
                                                             outputs={"artifacts/../../outside": "0" * 32 + ".dir"})})
    pulled = cli("pull", ".", cwd=root)
    assert pulled.returncode == 1 and "an output outside the project: 'artifacts/../../outside'" in pulled.stderr
    assert not (tmp_path.parent / "outside").exists() and not (root / ".dvc").exists()


def test_a_forged_re_hashed_tail_fails_verify_plan_and_apply_with_the_key_set(vouched):
    body = {k: v for k, v in all_records(read_log_bytes(vouched))[0].items() if k not in ("log_version", "seq", "prev", "hash")}
    (vouched / APPLY_LOG_NAME).unlink()
    LogWriter(vouched, KEY.encode()).append(body)  # the log as an apply holding the key writes it: signed
    assert cli("audit", "verify", ".", cwd=vouched, LLMOPS_LOG_KEY=KEY).returncode == 0
    signed = read_log_bytes(vouched)
    first = all_records(signed)[0]
    nodes = {nid: {**n, "metrics": {"passed": True}} for nid, n in first["nodes"].items() if nid.endswith(":gate")}
    forged = chain_record({"kind": "landing", "run": "x", "who": "ci", "when": "2026-01-02T00:00:00Z", "commit": None,
                           "plan_hash": "p", "nodes": nodes}, 2, first["hash"])
    (vouched / APPLY_LOG_NAME).write_bytes(signed + forged)
    assert cli("audit", "verify", ".", cwd=vouched).returncode == 0, "without the key the forgery is well formed"
    verified = cli("audit", "verify", ".", cwd=vouched, LLMOPS_LOG_KEY=KEY)
    assert verified.returncode == 1 and "TAMPERED (unsigned) at line 2" in verified.stdout
    assert "record 2 (line 2) carries no signature" in verified.stdout
    for command in (["plan", ".", "--no-refresh"], ["apply", ".", "--yes"]):
        refused = cli(*command, cwd=vouched, LLMOPS_LOG_KEY=KEY)
        assert refused.returncode == 1 and "llmops.applies.jsonl:2:1: error[E304]" in refused.stdout + refused.stderr


def test_plan_refuses_an_empty_array_of_nodes_instead_of_recreating_everything(vouched):
    (vouched / LOCK_NAME).write_text('{"lock_version": 1, "nodes": []}\n')
    planned = cli("plan", ".", "--no-refresh", cwd=vouched)
    assert planned.returncode == 1 and "to create" not in planned.stdout
    assert "llmops.lock:1:21: error[E302] lock file: nodes is an array" in planned.stdout + planned.stderr


def test_a_saved_plan_whose_data_changed_is_refused_before_anything_runs(tmp_path):
    repo = tmp_path / "repo"
    write_project(repo / "specs", {"data/t.jsonl": '{"text": "a b", "label": "x"}\n', "d.yaml": """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: d}
        spec:
          source: {path: data/t.jsonl}
          columns: {text: string, label: string}
        """})
    git_repo(repo)
    assert cli("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    assert cli("plan", "specs", "-o", "plan.json", "--no-refresh", cwd=repo).returncode == 0
    (repo / "specs/data/t.jsonl").write_text('{"text": "poisoned", "label": "x"}\n')
    refused = cli("apply", "plan.json", "--project", "specs", cwd=repo)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refusing a stale plan: the inputs or data of Dataset/d:prepare changed since the plan was made" in refused.stderr
    assert "hint: plan again" in refused.stderr
    assert not (repo / "specs" / LOCK_NAME).exists() and not (repo / "specs" / APPLY_LOG_NAME).exists()
    assert not (repo / "specs/artifacts/dataset").exists(), "nothing ran"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_a_pull_request_that_edits_the_lock_fails_policy_check_base_unless_waived(vouched):
    repo = vouched.parent
    git_repo(repo)
    git(repo, "checkout", "-qb", "feature")
    assert cli("policy", "check", "specs", "--base", "main", cwd=repo).returncode == 0, "an untouched lock passes"
    lock = vouched / LOCK_NAME
    lock.write_text(lock.read_text().replace('"passed": false', '"passed": true'))
    git(repo, "commit", "-qam", "flip the gate")
    failed = cli("policy", "check", "specs", "--base", "main", cwd=repo)
    assert failed.returncode == 1
    assert "error[P300] llmops.lock changed in this pull request: lock entry EvalGate/quality:gate edited" in failed.stdout
    sarif = cli("policy", "check", "specs", "--base", "main", "--format", "sarif", cwd=repo)
    assert any(r["ruleId"] == LOCK_RULE and r["level"] == "error" for r in json.loads(sarif.stdout)["runs"][0]["results"])
    write_project(vouched, {"waiver.yaml": f"""
        apiVersion: llmops/v1
        kind: Waiver
        metadata: {{name: lock-migration}}
        spec:
          policy: Policy/{LOCK_RULE}
          resources: [EvalGate/quality]
          reason: the lock format migration of this quarter
          owner: platform-lead@example.com
          expires: {dt.date.today() + dt.timedelta(days=30)}
        """})
    waived = cli("policy", "check", "specs", "--base", "main", cwd=repo)
    assert waived.returncode == 0, waived.stdout + waived.stderr
    assert f"waived   {LOCK_RULE}  EvalGate/quality  by lock-migration" in waived.stdout
    (vouched / APPLY_LOG_NAME).write_bytes(read_log_bytes(vouched) + b"\n")  # the log too: its own rule, not waived
    assert cli("policy", "check", "specs", "--base", "main", cwd=repo).returncode == 1
    missing = cli("policy", "check", "specs", "--base", "no-such-branch", cwd=repo)
    assert missing.returncode == 1 and "names no commit" in missing.stderr


def test_a_pull_request_that_moves_the_dvc_remote_fails_policy_check_base_unless_waived(vouched):
    """apply on main pushes with its credentials where .dvc/config says: moving the remote needs a sign-off (P302)."""
    repo = vouched.parent
    assert cli("init", "specs", "--remote", str(repo.parent / "remote"), cwd=repo).returncode == 0
    git_repo(repo)
    git(repo, "checkout", "-qb", "feature")
    config = vouched / ".dvc" / "config"
    config.write_text(config.read_text() + "[core]\n    autostage = true\n" if "[core]" not in config.read_text()
                      else config.read_text().replace("[core]", "[core]\n    autostage = true", 1))
    git(repo, "commit", "-qam", "a setting that moves nothing")
    assert cli("policy", "check", "specs", "--base", "main", cwd=repo).returncode == 0
    text = config.read_text()
    config.write_text(text.replace(str(repo.parent / "remote"), "s3://attacker-bucket/loot"))
    line = next(i for i, row in enumerate(config.read_text().splitlines(), 1) if row.startswith("['remote"))
    git(repo, "commit", "-qam", "point the remote elsewhere")
    failed = cli("policy", "check", "specs", "--base", "main", cwd=repo)
    assert failed.returncode == 1, failed.stdout
    assert (f".dvc/config:{line}:1: error[P302] .dvc/config changed in this pull request: the DVC remote "
            'configuration changed: [remote "llmops"] edited') in failed.stdout, failed.stdout
    assert "with its credentials" in failed.stdout
    write_project(vouched, {"waiver.yaml": f"""
        apiVersion: llmops/v1
        kind: Waiver
        metadata: {{name: remote-move}}
        spec:
          policy: Policy/remote-changed
          resources: [Dataset/tickets]
          reason: the artifacts move to the new bucket, reviewed by the platform team
          owner: platform-lead@example.com
          expires: {dt.date.today() + dt.timedelta(days=30)}
        """})
    waived = cli("policy", "check", "specs", "--base", "main", cwd=repo)
    assert waived.returncode == 0 and "waived   remote-changed" in waived.stdout, waived.stdout + waived.stderr


def test_the_pr_workflow_fails_a_pull_request_that_edits_the_lock(tmp_path):
    from tests.test_workflows import edit, run_pull_request

    work, steps = run_pull_request(tmp_path, lambda specs: edit(specs / LOCK_NAME, '"accuracy": 0.91', '"accuracy": 0.99'))
    policy = steps["policy"]
    assert policy.outcome == "failure" and policy.exit_code == 1
    results = json.loads((work / steps["Upload the policy findings to code scanning"].inputs["sarif_file"]).read_text())
    [finding] = [r for r in results["runs"][0]["results"] if r["ruleId"] == LOCK_RULE]
    assert finding["level"] == "error"
    assert finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "specs/llmops.lock"
    assert steps["plan"].outcome == "failure" and "E303" in steps["plan"].stdout + steps["plan"].stderr
    assert "Policy check: **failed**" in (work / "comment.md").read_text()


# ----------------------------------------------------------------------------- real Ray, DVC and torch
def noise_rows(n: int = 120, seed: int = 5) -> str:
    """Texts that say nothing about their labels: no model reaches accuracy 0.99 on them."""
    rng = random.Random(seed)
    return "".join(json.dumps({"text": f"item{rng.randrange(10**6)} thing{i}", "label": rng.choice(["neg", "pos"])}) + "\n"
                   for i in range(n))


GATED = {
    "data/r.jsonl": noise_rows(),
    "dataset.yaml": """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: reviews}
        spec:
          source: {path: data/r.jsonl}
          columns: {text: string, label: string}
          splits: {train: 0.7, eval: 0.3, seed: 1}
        """,
    "model.yaml": """
        apiVersion: llmops/v1
        kind: Model
        metadata: {name: m}
        spec:
          base: {config: {architecture: bert, vocab_size: 320, hidden_size: 16, num_hidden_layers: 1,
                          num_attention_heads: 2, intermediate_size: 32}}
          task: sequence-classification
          labels: [neg, pos]
          finetune:
            dataset: Dataset/reviews@train
            method: full
            training: {epochs: 1, learning_rate: 0.001, batch_size: 32, max_seq_len: 8, seed: 1}
          resources: {num_cpus: 1}
        """,
    "gate.yaml": """
        apiVersion: llmops/v1
        kind: EvalGate
        metadata: {name: quality}
        spec:
          model: Model/m
          dataset: Dataset/reviews@eval
          min_samples: 10
          metrics:
            - {metric: accuracy, min: 0.99}
        """,
    "deployment.yaml": """
        apiVersion: llmops/v1
        kind: Deployment
        metadata: {name: m-api}
        spec:
          model: Model/m
          requires: [EvalGate/quality]
          serve: {route_prefix: /m, ray_actor_options: {num_cpus: 0.25}}
        """,
}


def serve_apps(cluster) -> list[str]:
    script = ("import ray\nfrom ray import serve\nray.init(address=%r, namespace='llmops', log_to_driver=False)\n"
              "print(sorted(serve.status().applications))" % cluster.address)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **cluster.env()})
    return [] if done.returncode else json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


@pytest.mark.slow
def test_a_failed_gate_flipped_in_the_lock_deploys_nothing(tmp_path, ray_cluster):
    repo = tmp_path / "repo"
    write_project(repo / "specs", GATED)
    git_repo(repo)
    env = {**ray_cluster.env(), "LLMOPS_LOG_KEY": ""}
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0

    def apply():
        return run_llmops("apply", "specs", "--yes", "--pull", "--address", ray_cluster.address, cwd=repo, env=env)

    first = apply()
    assert first.returncode == 3, first.stdout + first.stderr
    specs = repo / "specs"
    lock = specs / LOCK_NAME
    nodes = json.loads(lock.read_text())["nodes"]
    assert nodes["EvalGate/quality:gate"]["metrics"]["passed"] is False and "Deployment/m-api:deploy" not in nodes
    evaluation = json.loads((specs / "artifacts/evalgate/quality/evaluate/metrics.json").read_text())
    assert evaluation["metrics"]["accuracy"] < 0.99
    assert evaluation["model"]["md5"] == nodes["Model/m:finetune"]["outputs"]["artifacts/model/m/finetune"]
    assert unvouched_entries(read_lock(specs)[0], all_records(read_log_bytes(specs))) == []

    # The attack: flip passed in the lock. Plan and apply refuse the unvouched entry.
    honest = lock.read_text()
    flipped = honest.replace('"passed": false', '"passed": true')
    lock.write_text(flipped)
    refused = apply()
    assert refused.returncode == 1 and "E303" in refused.stdout + refused.stderr
    assert "metrics.passed differs" in refused.stdout + refused.stderr

    # The careful attacker also appends a re-hashed record vouching for the flipped entry (no key set, so the chain
    # holds): the verdict is re-derived from the evaluation in DVC's store, and the deployment is still refused.
    flipped_entry = read_lock(specs)[0].nodes["EvalGate/quality:gate"]
    log = read_log_bytes(specs)
    last = all_records(log)[-1]
    forged = {"kind": "landing", "run": "x", "who": "mallory", "when": "2026-01-01T00:00:00Z", "commit": None,
              "plan_hash": "p", "nodes": {"EvalGate/quality:gate": {
                  "fingerprint": flipped_entry.fingerprint, "status": "applied", "outputs": {},
                  "metrics": flipped_entry.metrics, "entry": flipped_entry.digest, "previous": None}}}
    (specs / APPLY_LOG_NAME).write_bytes(log + chain_record(forged, last["seq"] + 1, last["hash"]))
    assert read_trusted_lock(specs, key=b"")[1] == []
    (specs / "artifacts/evalgate/quality/evaluate/metrics.json").write_text(json.dumps({**evaluation, "metrics": {"accuracy": 1.0}}))
    blocked = apply()
    assert blocked.returncode == 3, blocked.stdout + blocked.stderr
    assert "EvalGate/quality failed on this model" in blocked.stdout and "re-derived from its evaluation" in blocked.stdout
    assert "Deployment/m-api:deploy" not in json.loads(lock.read_text())["nodes"]
    assert "m-api" not in serve_apps(ray_cluster), "no Serve application started"


def dataset_chain(length: int) -> dict[str, str]:
    out = {"data/t.jsonl": "".join(f'{{"text": "ticket number {i}", "label": "a"}}\n' for i in range(20))}
    for i in range(length):
        source = "{path: data/t.jsonl}" if i == 0 else f"{{dataset: Dataset/d{i - 1:02}}}"
        out[f"d{i:02}.yaml"] = textwrap.dedent(f"""
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {{name: d{i:02}}}
            spec:
              source: {source}
              columns: {{text: string, label: string}}
            """)
    return out


@pytest.mark.slow
def test_an_apply_killed_after_a_node_landed_leaves_every_entry_vouched_for(tmp_path, ray_cluster):
    repo, length = tmp_path / "repo", 8
    write_project(repo / "specs", dataset_chain(length))
    git_repo(repo)
    env = {**os.environ, **ray_cluster.env(), "LLMOPS_LOG_KEY": KEY}
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    script = Path(sys.executable).with_name("llmops")
    victim = subprocess.Popen([str(script), "apply", "specs", "--yes", "--address", ray_cluster.address], cwd=repo,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    specs = repo / "specs"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and victim.poll() is None:
        if (specs / LOCK_NAME).exists() and len(read_lock(specs)[0].nodes) >= 2:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL
    lock = read_lock(specs)[0]
    assert 2 <= len(lock.nodes) < length, f"the kill landed after {len(lock.nodes)} nodes; the test needs it mid-apply"
    log = read_log_bytes(specs)
    assert verify_chain(log, KEY.encode(), final=False).ok
    assert unvouched_entries(lock, all_records(log)) == [], "every lock entry is vouched for"
    assert all(r.get("kind") == "landing" for r in all_records(log)), "killed: no closing record"
    planned = run_llmops("plan", "specs", "--no-refresh", cwd=repo, env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    resumed = run_llmops("apply", "specs", "--yes", "--address", ray_cluster.address, cwd=repo, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(read_lock(specs)[0].nodes) == length
    verified = run_llmops("audit", "verify", "specs", cwd=repo, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert [r["result"] for r in all_records(read_log_bytes(specs)) if r.get("kind") == "apply"] == ["applied"]
