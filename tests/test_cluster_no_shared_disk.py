"""apply on a 3-node Ray cluster whose workers do not share the driver's disk (tests/nsd_cluster.py).

One cluster for the module: a head with 0 CPUs and two workers, each seeing an empty tmpfs where
the driver's projects are (their DVC caches included); the DVC remote, a folder outside, is visible
to all, as object storage would be. On it, a private copy of the example project: it applies end
to end and serves, a second apply changes nothing, a fresh clone pulls every artifact back; an
input object corrupted or deleted on the remote fails the node that needs it, loudly, landing
nothing; a worker killed mid-finetune costs a retry on the other worker, not a half-written artifact.
"""

from __future__ import annotations

import os
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
    started = nsd_cluster.start([work], ray_test_token)
    yield started
    started.stop()


def test_the_workers_see_an_empty_project_folder_and_the_remote(cluster, work, remote):
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

        @ray.remote(num_cpus=1)
        def look():
            return {{"ip": ray.util.get_node_ip_address(), "data": os.path.exists({str(data)!r}),
                    "work": os.listdir({str(work)!r}), "remote": open({str(remote / "object")!r}).read(),
                    "namespace": os.readlink("/proc/self/ns/mnt")}}

        result = [ray.get(look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote())
                  for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    """)
    assert sorted(s["ip"] for s in seen) == list(nsd_cluster.WORKER_IPS), "one task on each worker"
    for look in seen:
        assert look["data"] is False and look["work"] == [], f"{look['ip']} sees the driver's project"
        assert look["remote"] == "on the remote", f"{look['ip']} cannot read the remote"
    namespaces = {look["namespace"] for look in seen}
    assert len(namespaces) == 2 and os.readlink("/proc/self/ns/mnt") not in namespaces, "a mount namespace each"
    assert data.exists() and not os.path.ismount(work), "the driver's own view is untouched"
