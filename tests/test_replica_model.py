"""A replica's model, fetched by md5 from a real DVC folder remote into a node-local folder of its version
(runners/replica_model.py), and the pure pieces the deploy step reads Serve's answers with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners.cluster import Cluster, serve_host_problem, with_serve
from runners.replica_model import MARKER, local_model, restorable
from runners.serving import ReplicaFailed, replica_failure
from runners.step import NodeFailed

VERSION = "v-0123456789ab"


@pytest.fixture
def pushed(tmp_path: Path):
    """A model-like folder pushed to a folder remote; (its config for a replica, the remote folder, the folder)."""
    from runners.objects import push_folder
    from runners.remote_odb import RemoteAddress

    folder = tmp_path / "artifact"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.bin").write_bytes(os.urandom(4096))
    (folder / "llmops_model.json").write_text('{"task": "sequence-classification"}\n')
    remote = tmp_path / "remote"
    remote.mkdir()
    address = RemoteAddress(str(remote))
    manifest = push_folder(address, folder, "the test model")
    return {"model_md5": manifest.oid, "remote": address.to_dict()}, remote, folder


def _object(remote: Path, md5: str) -> Path:
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def _weights_md5(folder: Path) -> str:
    from runners.objects import file_md5

    return file_md5(folder / "model" / "weights.bin")


def test_a_replica_fetches_its_version_once_and_reuses_the_checked_folder(tmp_path, pushed):
    config, remote, source = pushed
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    got = local_model(VERSION, config, cache)
    assert got == cache / f"{VERSION}-{config['model_md5'].removesuffix('.dir')}"
    assert (got / "model" / "weights.bin").read_bytes() == (source / "model" / "weights.bin").read_bytes()
    assert (got / MARKER).read_text().strip() == config["model_md5"]
    assert [p.name for p in cache.iterdir()] == [got.name]  # no temp sibling left
    # A second replica of the version on this node loads the same folder without asking the remote.
    obj = _object(remote, _weights_md5(source))
    obj.chmod(0o644)
    obj.unlink()
    assert local_model(VERSION, config, cache) == got


def test_two_versions_never_share_a_folder(tmp_path, pushed):
    config, _, _ = pushed
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    first, second = local_model(VERSION, config, cache), local_model("v-ba9876543210", config, cache)
    assert first != second and (second / MARKER).exists()


def test_a_corrupted_object_fails_with_a_hint_and_leaves_no_folder(tmp_path, pushed):
    config, remote, source = pushed
    obj = _object(remote, _weights_md5(source))
    obj.chmod(0o644)
    obj.write_bytes(b"not the weights")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    with pytest.raises(NodeFailed) as failed:
        local_model(VERSION, config, cache)
    assert "does not hash to its md5" in failed.value.message and "push it again" in failed.value.hint
    assert list(cache.iterdir()) == []


def test_a_dead_replicas_half_fetch_is_cleared_and_an_unmarked_folder_is_not_trusted(tmp_path, pushed):
    config, _, _ = pushed
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    name = f"{VERSION}-{config['model_md5'].removesuffix('.dir')}"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    half = cache / f".{name}.tmp-{int(dead.stdout)}-ab12"
    (half / "model").mkdir(parents=True)
    (cache / name / "model").mkdir(parents=True)  # a folder without the marker: not a fetch of ours
    (cache / name / "model" / "weights.bin").write_bytes(b"planted")
    got = local_model(VERSION, config, cache)
    assert not half.exists() and (got / MARKER).exists()
    assert (got / "model" / "weights.bin").read_bytes() != b"planted"


def test_a_config_without_md5_is_refused_before_any_fetch(tmp_path):
    legacy = {"model_dir": "/driver/artifacts/model/m/finetune", "prompt": None}
    assert not restorable(legacy) and not restorable(None)
    with pytest.raises(NodeFailed) as refused:
        local_model(VERSION, legacy, tmp_path)
    assert "not told its model by md5" in refused.value.message and "older llmops" in refused.value.hint
    assert list(tmp_path.iterdir()) == []


def test_the_replicas_own_failure_is_read_back_from_a_serve_status_message():
    error = ReplicaFailed("the DVC remote's object abc does not hash to its md5", "push it again")
    message = ("The deployment failed to start 2 times in a row. Error:\nTraceback (most recent call last):\n"
               f"  File \"x.py\", line 1\nrunners.serving.ReplicaFailed: {error}\n")
    assert replica_failure(message) == ("the DVC remote's object abc does not hash to its md5", "push it again")
    assert replica_failure("Deploying app 'x' failed: ValueError: nope") is None
    assert json.loads(str(error).split(": ", 1)[1])["hint"] == "push it again"


def test_serve_host_and_port_as_asked():
    cluster = Cluster("127.0.0.1:6379", "", 8000)
    assert with_serve(cluster, None, None) == cluster and not cluster.serve_asked
    asked = with_serve(cluster, None, 9123)
    assert (asked.serve_host, asked.serve_port, asked.serve_asked) == ("127.0.0.1", 9123, True)
    assert serve_host_problem("0.0.0.0") is None and serve_host_problem("::1") is None
    assert serve_host_problem("head-1.cluster.local") is None
    assert serve_host_problem("http://x") and serve_host_problem("a b") and serve_host_problem("-x")


def test_the_recorded_url_reaches_a_wildcard_bind_at_the_head():
    from runners.steps.deploy import _url_host

    assert _url_host("127.0.0.1", 8123, "127.0.0.1:6379") == "127.0.0.1:8123"
    assert _url_host("0.0.0.0", 8000, "10.0.0.5:6379") == "10.0.0.5:8000"
    assert _url_host("0.0.0.0", 8000, "auto") == "127.0.0.1:8000"
    assert _url_host("::", 8000, "ray://[fd00::1]:10001") == "[fd00::1]:8000"


def test_a_loopback_listener_gets_one_proxy_on_the_head_and_any_other_one_per_node():
    from runners.steps.deploy import proxy_location

    assert [proxy_location(h) for h in ("127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost")] == ["HeadOnly"] * 5
    assert [proxy_location(h) for h in ("0.0.0.0", "::", "10.0.0.5", "head-1.cluster.local")] == ["EveryNode"] * 4


@pytest.mark.parametrize("args, env, says", [
    (["--serve-host", "http://x"], {}, "is not an IP address or a host name"),
    ([], {"LLMOPS_SERVE_HOST": "a b"}, "is not an IP address or a host name"),
    (["--serve-port", "0"], {}, "is not in the range 1<=x<=65535"),
    ([], {"LLMOPS_SERVE_PORT": "70000"}, "is not in the range 1<=x<=65535"),
])
def test_a_bad_serve_host_or_port_is_refused_before_anything_runs(tmp_path, args, env, says):
    from click.testing import CliRunner

    from llmops_cli.main import cli

    result = CliRunner().invoke(cli, ["apply", str(tmp_path), "--yes", *args], env=env)
    assert result.exit_code == 2 and says in " ".join(result.output.split()), result.output
