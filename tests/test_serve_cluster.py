"""Serve as on a cluster, on real Ray Serve (the project's own embedded cluster): replicas fetch their model by md5
into a folder of their own version, Serve's HTTP host and port are the ones asked, and a deployment that cannot
start is the node's own error, in seconds, logged, with nothing left behind (issue 11, item 3)."""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
import time
from pathlib import Path

import pytest

from conftest import git_repo, run_llmops, write_project
from test_apply_deploy import rows, serve_call, specs

pytestmark = pytest.mark.slow

APP, ROUTE = "sentiment-api", "/sentiment"
DEPLOY = "Deployment/sentiment-api:deploy"
MODEL = "artifacts/model/sentiment/finetune"
TEXTS = ["love great perfect", "happy wonderful excellent", "awful hate broken", "terrible refund angry"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flipped() -> str:
    """The reviews with every label swapped: a model trained on them answers the opposite of one trained on ``rows``."""
    return rows().replace('"label": "pos"', '"label": "tmp"').replace('"label": "neg"', '"label": "pos"').replace(
        '"label": "tmp"', '"label": "neg"')


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A project applied on its own local cluster with Serve on a free port of 127.0.0.1; stopped by the test."""
    base = tmp_path_factory.mktemp("serve-cluster")
    repo = base / "repo"
    write_project(repo / "specs", specs())
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(base / "remote"), cwd=repo).returncode == 0
    state = {"repo": repo, "remote": base / "remote", "port": _free_port()}
    yield state
    run_llmops("down", "specs", cwd=repo)


def _lock(repo: Path) -> dict:
    return json.loads((repo / "specs" / "llmops.lock").read_text())["nodes"]


def _cluster(repo: Path):
    from runners.cluster import recorded_local

    cluster = recorded_local(repo / "specs")
    assert cluster is not None, "the project's local cluster is not running"
    return cluster


def _folder(version: str, md5: str) -> Path:
    from runners.replica_model import cache_root

    return cache_root() / f"{version}-{md5.removesuffix('.dir')}"


def _predict(url: str) -> list[str]:
    from runners.steps.deploy import request

    return request(url, {"inputs": [{"text": t} for t in TEXTS]})["predictions"]


def test_serve_listens_where_asked_and_the_replica_fetched_its_model_by_md5(served):
    from runners.steps.deploy import request

    repo, port = served["repo"], served["port"]
    applied = run_llmops("apply", "specs", "--yes", "--num-cpus", "2", "--serve-host", "127.0.0.1", "--serve-port",
                         str(port), cwd=repo)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    nodes = _lock(repo)
    serve = nodes[DEPLOY]["outputs"]["serve"]
    assert serve["url"] == f"http://127.0.0.1:{port}{ROUTE}"
    config = serve["config"]
    assert "model_dir" not in config  # no path of the driver's
    assert config["model_md5"] == nodes["Model/sentiment:finetune"]["outputs"][MODEL]
    assert config["remote"]["url"] == str(served["remote"])  # its address, no credential (runners/remote_odb.py)
    answer = request(serve["url"], {"text": "love great perfect"})
    assert answer["version"] == serve["version"]
    assert (_folder(serve["version"], config["model_md5"]) / ".llmops-fetched").read_text().strip() == config["model_md5"]
    called = run_llmops("call", APP, '{"text": "happy"}', "--project", "specs", cwd=repo)
    assert called.returncode == 0 and serve["version"] in called.stdout, called.stdout + called.stderr
    served.update(first=serve, first_predictions=_predict(serve["url"]))


def test_a_replica_restarted_without_the_drivers_folder_fetches_the_model_again(served):
    repo, first = served["repo"], served["first"]
    shutil.rmtree(repo / "specs" / MODEL)  # the driver's copy of the model is gone ...
    folder = _folder(first["version"], first["config"]["model_md5"])
    shutil.rmtree(folder)  # ... and so is the node's: only the remote holds it
    killed = serve_call(_cluster(repo), f"""
        for actor in ray.util.list_named_actors(all_namespaces=True):
            if actor["name"].startswith("SERVE_REPLICA::{APP}#{first['version']}#"):
                ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
                print("killed", actor["name"])
        """)
    assert "killed" in killed
    deadline, answer = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        try:
            answer = _predict(first["url"])
            if folder.is_dir():
                break
        except OSError:
            pass
        time.sleep(1)
    assert answer == served["first_predictions"], answer
    assert (folder / ".llmops-fetched").exists()


def test_a_canarys_old_and_new_versions_load_their_own_weights_from_their_own_folders(served):
    repo, first = served["repo"], served["first"]
    write_project(repo / "specs", {"data/reviews.jsonl": _flipped()})
    canary = run_llmops("apply", "specs", "--yes", cwd=repo, env={"LLMOPS_SERVE_PORT": str(served["port"])})
    assert canary.returncode == 0, canary.stdout + canary.stderr
    assert "canary 50% -> 100%" in canary.stdout
    now = _lock(repo)[DEPLOY]["outputs"]["serve"]
    assert now["version"] != first["version"] and now["url"] == first["url"]
    assert now["config"]["model_md5"] != first["config"]["model_md5"]
    new_predictions = _predict(now["url"])
    assert new_predictions != served["first_predictions"]  # trained on the swapped labels
    # The old version beside the new one, from what the lock recorded of each (what a canary runs): fresh replicas
    # of the old version load the old weights, although the driver's model folder now holds the new ones.
    both = serve_call(_cluster(repo), f"""
        import json
        from pathlib import Path
        from compiler import compile_project
        from runners.serving import build_app
        resources = compile_project(Path({str(repo / "specs")!r})).project.resources
        spec = next(r.spec for ref, r in resources.items() if str(ref) == "Deployment/{APP}")
        versions = json.loads({json.dumps({first["version"]: first["config"], now["version"]: now["config"]})!r})
        serve.run(build_app("canary-check", versions, {{name: 0.5 for name in versions}}, spec), name="canary-check",
                  route_prefix="/canary-check")
        rows = [{{"text": t}} for t in {TEXTS!r}]
        answers = {{name: serve.get_deployment_handle(name, app_name="canary-check").predict.remote(rows).result()
                   for name in versions}}
        serve.delete("canary-check")
        print(json.dumps(answers))
        """)
    answers = json.loads(both.strip().splitlines()[-1])
    assert answers[first["version"]]["predictions"] == served["first_predictions"]
    assert answers[now["version"]]["predictions"] == new_predictions
    old_folder, new_folder = _folder(first["version"], first["config"]["model_md5"]), _folder(now["version"], now["config"]["model_md5"])
    assert old_folder != new_folder and (old_folder / ".llmops-fetched").exists() and (new_folder / ".llmops-fetched").exists()
    served["now"] = now


def test_a_deployment_whose_weights_are_corrupted_on_the_remote_fails_fast_as_its_own_error(served):
    from runners.replica_model import cache_root
    from runners.steps.deploy import request

    repo, now = served["repo"], served["now"]
    md5 = now["config"]["model_md5"]
    listing = json.loads((served["remote"] / "files" / "md5" / md5[:2] / md5[2:]).read_text())
    weights = max(listing, key=lambda entry: (served["remote"] / "files" / "md5" / entry["md5"][:2] / entry["md5"][2:]).stat().st_size)
    obj = served["remote"] / "files" / "md5" / weights["md5"][:2] / weights["md5"][2:]
    obj.chmod(0o644)
    obj.write_bytes(b"\0" * obj.stat().st_size)  # the biggest file of the model (its weights), damaged on the remote
    for folder in cache_root().glob(f"*-{md5.removesuffix('.dir')}"):
        shutil.rmtree(folder)  # no replica on this node has a checked copy: a new version's must fetch it
    deployment = specs()["deployment.yaml"].replace("num_replicas: 1", "num_replicas: 1\n    max_ongoing_requests: 7")
    write_project(repo / "specs", {"deployment.yaml": textwrap.dedent(deployment)})
    started = time.monotonic()
    failed = run_llmops("apply", "specs", "--yes", cwd=repo, env={"LLMOPS_SERVE_PORT": str(served["port"])})
    took = time.monotonic() - started
    out = " ".join((failed.stdout + failed.stderr).split())  # as one line: the console wraps long messages
    assert failed.returncode == 1, out
    assert "could not start" in out and "does not hash to its md5" in out and "push it again" in out, out
    assert took < 60, f"the failure took {took:.0f}s"
    assert f"{now['version']} serves again" in out, out
    assert request(now["url"], {"text": "happy"})["version"] == now["version"]  # the running version kept serving
    record = [json.loads(line) for line in (repo / "specs" / "llmops.applies.jsonl").read_text().splitlines()][-1]
    assert record["kind"] == "apply" and record["result"] == "failed"
    logged = record["nodes"][DEPLOY]
    assert logged["status"] == "failed" and "does not hash to its md5" in logged["error"] and logged["hint"]
    assert not [p.name for p in (repo / "specs" / ".llmops" / "tmp").glob("deployment.*")]
    assert not list(cache_root().glob(f"*{md5.removesuffix('.dir')}*"))  # neither a folder nor a half-fetched one
