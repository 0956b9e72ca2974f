"""apply on a 3-node Ray cluster whose workers do not share the driver's disk (tests/nsd_cluster.py).

One cluster for the module: a head with 0 CPUs and two workers, each seeing an empty tmpfs where
the driver's projects are (their DVC caches included); the DVC remote, a folder outside, is visible
to all, as object storage would be. On it, a private copy of the example project: it applies end
to end and serves, a second apply changes nothing, a fresh clone pulls every artifact back; an
input object corrupted on the remote (or lost there and in the driver's cache) fails the node that
needs it, loudly, landing nothing, and one only the remote lost is pushed again from the driver's cache; a worker killed mid-finetune costs a retry on the other worker, not a half-written artifact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import nsd_checks
import nsd_cluster
import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root (CI runs as root)")]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Where the driver's projects live: an empty tmpfs on every worker."""
    return tmp_path_factory.mktemp("nsd-work")


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Path:
    """The DVC remote: outside ``work``, visible to every node."""
    return tmp_path_factory.mktemp("nsd-remote")


@pytest.fixture(scope="module")
def cluster(work, ray_test_token):
    # 3 CPUs a worker: the fine-tune asks for 2, and when a worker is killed, the Serve replica it hosted (0.5 CPU)
    # restarts on the survivor; with 2 CPUs there the retried fine-tune would wait for resources that never free
    started = nsd_cluster.start([work], ray_test_token, worker_cpus=3)
    yield started
    started.stop()
    assert started.leftovers() == [], "the cluster left something behind"


def test_every_node_sees_an_empty_project_folder_and_the_remote(cluster, work, remote):
    data = work / "sanity" / "data" / "tickets.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text('{"text": "on the driver only"}\n')
    (remote / "object").write_text("on the remote")
    nodes = [n for n in cluster.nodes() if n["alive"]]
    assert sorted(n["ip"] for n in nodes) == ["127.0.0.1", *nsd_cluster.WORKER_IPS]
    assert [n["cpus"] for n in nodes if n["ip"] == "127.0.0.1"] == [0], "the head runs no task"
    seen = cluster.python(f"""
        import os
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        @ray.remote(num_cpus=0)
        def look():
            return {{"ip": ray.util.get_node_ip_address(), "data": os.path.exists({str(data)!r}),
                    "work": os.listdir({str(work)!r}), "remote": open({str(remote / "object")!r}).read(),
                    "namespace": os.readlink("/proc/self/ns/mnt")}}

        result = [ray.get(look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote())
                  for n in ray.nodes() if n["Alive"]]
    """)
    assert sorted(s["ip"] for s in seen) == ["127.0.0.1", *nsd_cluster.WORKER_IPS], "one task on each node"
    for look in seen:
        assert look["data"] is False and look["work"] == [], f"{look['ip']} sees the driver's project"
        assert look["remote"] == "on the remote", f"{look['ip']} cannot read the remote"
    namespaces = {look["namespace"] for look in seen}
    assert len(namespaces) == 3 and os.readlink("/proc/self/ns/mnt") not in namespaces, "a mount namespace each"
    assert data.exists() and not os.path.ismount(work), "the driver's own view is untouched"
    mounted = [item for item in cluster.leftovers() if item.startswith(f"{work} mounted")]
    assert len(mounted) >= 3, "each node's namespace holds its tmpfs (what teardown checks is gone)"


@pytest.fixture(scope="module")
def applied(cluster, work, remote):
    """The example, applied once on the cluster and committed; with the first apply's output."""
    repo = work / "example"
    specs = nsd_checks.example_repo(repo, str(remote))
    done = cluster.apply("specs", cwd=repo)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    here = [folder for folder in nsd_checks.lock_outputs(specs) if (specs / folder).exists()]
    assert not here and "`llmops pull` restores them" in done.stdout, f"checked on the remote, not brought here: {here}"
    assert nsd_checks.pulled_and_verified(cluster, repo, specs) == []  # and the driver's DVC cache holds them
    nsd_checks.commit(repo, "applied")
    return {"repo": repo, "specs": specs, "output": done.stdout + done.stderr}


def test_the_example_applies_end_to_end_and_serves(cluster, applied):
    specs = applied["specs"]
    nodes = nsd_checks.lock_nodes(specs)
    assert {nsd_checks.PREPARE, nsd_checks.FINETUNE, "Deployment/ticket-classifier-prod:deploy"} <= set(nodes)
    ran = {t["worker"] for t in cluster.tasks() if t["type"] == "NORMAL_TASK" and t["state"] == "FINISHED"}
    assert ran & set(cluster.workers), f"the steps ran on the workers: {ran}"
    proxies = cluster.python("""
        from ray import serve
        result = {"proxies": {node: str(state) for node, state in serve.status().proxies.items()},
                  "head": [n["NodeID"] for n in ray.nodes() if n["NodeManagerAddress"] == "127.0.0.1"]}
    """)
    assert list(proxies["proxies"]) == proxies["head"], f"a loopback Serve has one HTTP proxy, the head's: {proxies}"
    answer = cluster.llmops("call", "ticket-classifier-prod", nsd_checks.REQUEST, "--project", "specs",
                            cwd=applied["repo"], timeout=120)
    assert answer.returncode == 0 and '"prediction"' in answer.stdout, answer.stdout + answer.stderr + applied["output"][-6000:]


def test_a_second_apply_changes_nothing(cluster, applied):
    again = cluster.apply("specs", cwd=applied["repo"], timeout=300)
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr


def test_a_fresh_clone_pulls_every_artifact_byte_for_byte(cluster, applied, tmp_path):
    clone, pulled = nsd_checks.pulled_clone(applied["repo"], tmp_path / "clone", cluster)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    outputs = nsd_checks.lock_outputs(applied["specs"])
    assert outputs and nsd_checks.lock_outputs(clone) == outputs
    for folder in outputs:
        assert nsd_checks.tree(clone / folder) == nsd_checks.tree(applied["specs"] / folder), folder


def _retune(specs: Path, rate: str) -> None:
    """Change the model's learning rate, so the fine-tune (and what follows it) must run again."""
    model = specs / "models" / "ticket-classifier.yaml"
    text = model.read_text()
    start = text.index("learning_rate: ") + len("learning_rate: ")
    model.write_text(text[:start] + rate + text[text.index(",", start):])


def _train_object(remote: Path, specs: Path) -> tuple[str, Path]:
    """The remote object of the prepared training split: the fine-tune's input."""
    entries = nsd_checks.listing(remote, nsd_checks.lock_outputs(specs)[_prepare_folder(specs)])
    entry = next((e for e in entries if "train" in e["relpath"]), entries[0])
    return entry["md5"], nsd_checks.remote_object(remote, entry["md5"])


def _prepare_folder(specs: Path) -> str:
    (folder,) = nsd_checks.lock_nodes(specs)[nsd_checks.PREPARE]["outputs"]
    return folder


@pytest.fixture
def broken_input(applied, remote):
    """``break_(how)``: the fine-tune's input object broken on the remote (and, for "lost", in the driver's DVC
    cache too), with the learning rate changed so the fine-tune runs again; both put back afterwards."""
    repo, specs = applied["repo"], applied["specs"]
    md5, path = _train_object(remote, specs)
    cached = specs / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    good = path.read_bytes()
    rates = iter(["4.0e-3", "3.0e-3", "2.0e-3"])

    def break_(how: str) -> str:
        os.chmod(path, 0o644)
        if how == "corrupted":
            path.write_bytes(b"not the training split\n" + good[:64])
        else:
            path.unlink()
        if how == "lost":
            cached.unlink()
        _retune(specs, next(rates))
        return md5

    yield break_, path, good
    for target in (path, cached):
        if not target.exists() or target.read_bytes() != good:
            target.unlink(missing_ok=True)
            target.write_bytes(good)
    subprocess.run(["git", "checkout", "--", "specs/models"], cwd=repo, check=True, capture_output=True)


@pytest.mark.parametrize("fault", ["corrupted", "lost"])
def test_an_input_object_broken_on_the_remote_fails_its_node_and_lands_nothing(cluster, applied, broken_input, fault):
    repo, specs = applied["repo"], applied["specs"]
    break_, _, _ = broken_input
    before = nsd_checks.lock_nodes(specs)
    md5 = break_(fault)
    done = cluster.apply("specs", cwd=repo, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-4000:]
    assert md5 in out and "Traceback" not in out, out[-4000:]
    assert nsd_checks.lock_nodes(specs)[nsd_checks.FINETUNE] == before[nsd_checks.FINETUNE], "nothing landed"
    assert nsd_checks.pulled_and_verified(cluster, repo, specs) == []


def test_an_input_object_the_remote_lost_is_pushed_again_from_the_drivers_cache(cluster, applied, broken_input):
    repo, specs = applied["repo"], applied["specs"]
    break_, path, good = broken_input
    before = nsd_checks.lock_nodes(specs)
    break_("deleted")
    done = cluster.apply("specs", cwd=repo, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert path.read_bytes() == good, "the object is back on the remote, as it was"
    assert nsd_checks.lock_nodes(specs)[nsd_checks.FINETUNE] != before[nsd_checks.FINETUNE]
    assert nsd_checks.pulled_and_verified(cluster, repo, specs) == []


def test_a_worker_killed_mid_finetune_costs_a_retry_on_the_other_worker(cluster, applied, tmp_path):
    repo, specs = applied["repo"], applied["specs"]
    model = specs / "models" / "ticket-classifier.yaml"
    model.write_text(model.read_text().replace("epochs: 4,", "epochs: 8,"))  # 20 s or more: time to be killed in
    before = nsd_checks.lock_nodes(specs)[nsd_checks.FINETUNE]
    log = tmp_path / "apply.log"
    apply = cluster.apply_in_background("specs", cwd=repo, log=log)
    try:
        victim, ids = _wait_for_the_finetune(cluster, apply, log)
        cluster.kill_worker(victim)
        assert not cluster.workers[victim].alive
        assert apply.wait(timeout=600) == 0, log.read_text()[-4000:]
    finally:
        if apply.poll() is None:
            os.killpg(apply.pid, signal.SIGKILL)
            apply.wait()
    survivor = next(name for name in cluster.workers if name != victim)
    after = nsd_checks.lock_nodes(specs)[nsd_checks.FINETUNE]
    assert after != before, "the fine-tune landed, once"
    assert nsd_checks.pulled_and_verified(cluster, repo, specs) == []
    rows = [t for t in cluster.tasks() if t["id"] in ids]
    finished = [t for t in rows if t["state"] == "FINISHED"]
    assert finished, f"the fine-tune's task never finished: {rows}"
    assert all(t["attempt"] >= 1 for t in finished), f"it finished before its worker was killed (train longer): {rows}"
    assert all(t["worker"] == survivor for t in finished), rows


def _wait_for_the_finetune(cluster, apply: subprocess.Popen, log: Path, timeout: float = 600) -> tuple[str, set[str]]:
    """The worker running the fine-tune, once it has run a while, and the ids of the tasks running there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and apply.poll() is None:
        if nsd_checks.FINETUNE in log.read_text(errors="replace"):
            running = [t for t in cluster.tasks() if t["state"] == "RUNNING" and t["type"] == "NORMAL_TASK"
                       and t["worker"] in cluster.workers]
            if running:
                time.sleep(2)  # into the training loop
                return running[0]["worker"], {t["id"] for t in running if t["worker"] == running[0]["worker"]}
        time.sleep(1)
    raise AssertionError(f"the fine-tune never ran: {log.read_text()[-4000:]}")
