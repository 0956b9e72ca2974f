"""A deployed endpoint on real Ray Serve: a prompt whose variables are not named ``text`` deploys and
answers (issue 13's first item), and hostile bodies get a 4xx while the server keeps serving (issue 15)."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request

import pytest

from conftest import git_repo, run_llmops, write_project

pytestmark = pytest.mark.slow


def tickets(n: int = 120) -> str:
    rng = random.Random(5)
    words = {"billing": ["charged", "invoice", "refund", "price"], "bug": ["crash", "error", "broken", "freeze"]}
    out = []
    for i in range(n):
        label = "billing" if i % 2 else "bug"
        out.append(json.dumps({"subject": f"ticket {i}", "body": " ".join(rng.sample(words[label], 3)), "label": label}))
    return "\n".join(out) + "\n"


SPECS = {
    "data/tickets.jsonl": tickets(),
    "dataset.yaml": """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: tickets}
        spec:
          source: {path: data/tickets.jsonl}
          columns: {subject: string, body: string, label: string}
          splits: {train: 0.8, eval: 0.2, seed: 1, stratify_by: label}
        """,
    "prompt.yaml": """
        apiVersion: llmops/v1
        kind: Prompt
        metadata: {name: ticket}
        spec:
          template: "{{ subject }}: {{ message }}"
          variables:
            subject: {from: Dataset/tickets}
            message: {from: Dataset/tickets, column: body}
        """,
    "model.yaml": """
        apiVersion: llmops/v1
        kind: Model
        metadata: {name: triage}
        spec:
          base: {config: {architecture: bert, vocab_size: 512, hidden_size: 32, num_hidden_layers: 1,
                          num_attention_heads: 2, intermediate_size: 64}}
          task: sequence-classification
          labels: [billing, bug]
          finetune:
            dataset: Dataset/tickets@train
            prompt: Prompt/ticket
            method: full
            training: {epochs: 2, learning_rate: 0.005, batch_size: 16, max_seq_len: 16, seed: 3}
          resources: {num_cpus: 1}
        """,
    "deployment.yaml": """
        apiVersion: llmops/v1
        kind: Deployment
        metadata: {name: triage-api}
        spec:
          model: Model/triage
          prompt: Prompt/ticket
          serve:
            route_prefix: /triage
            ray_actor_options: {num_cpus: 0.25}
        """,
}


def post(url: str, data: bytes, timeout: float = 60) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory, ray_cluster):
    repo = tmp_path_factory.mktemp("serve") / "repo"
    write_project(repo / "specs", SPECS)
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(repo.parent / "remote"), cwd=repo).returncode == 0
    applied = run_llmops("apply", "specs", "--yes", "--address", ray_cluster.address, cwd=repo, env=ray_cluster.env())
    assert applied.returncode == 0, applied.stdout + applied.stderr
    serve = json.loads((repo / "specs" / "llmops.lock").read_text())["nodes"]["Deployment/triage-api:deploy"]["outputs"]["serve"]
    yield serve["url"], repo
    run_llmops("down", "specs", cwd=repo)


def test_a_prompt_with_other_variable_names_deploys_and_answers(endpoint):
    url, repo = endpoint
    for row in ({"subject": "hi", "body": "charged twice"}, {"subject": "hi", "message": "app crash"}):
        status, answer = post(url, json.dumps(row).encode())
        assert status == 200 and answer["prediction"] in ("billing", "bug"), answer
    status, batch = post(url, json.dumps({"inputs": [{"subject": "a", "body": "refund"}] * 3}).encode())
    assert status == 200 and len(batch["predictions"]) == 3
    called = run_llmops("call", "Deployment/triage-api", '{"subject": "s", "body": "invoice"}', "--project", "specs", cwd=repo)
    assert called.returncode == 0 and '"prediction"' in called.stdout, called.stdout + called.stderr


@pytest.mark.parametrize("body, status, says", [
    (b'{"text": "the prompt reads no text"}', 400, "lacks body (or message), subject"),
    (b"[1, 2]", 400, "the body is a JSON list"),
    (b"not json", 400, "not JSON"),
    (b"[" * 10_000 + b"]" * 10_000, 400, "not JSON"),
    (b'{"subject": ["a"], "body": "x"}', 400, "must be a string or a number"),
    (b'{"inputs": 5}', 400, "non-empty list"),
    (b'{"inputs": [7]}', 400, "is a JSON int"),
    (json.dumps({"inputs": [{"subject": "a", "body": "b"}] * 20_000}).encode(), 413, "at most 256 rows"),
    (b'{"subject": "a", "body": "' + b"x" * (10 * 1024 * 1024) + b'"}', 413, "limit is"),
])
def test_bad_bodies_get_a_4xx_and_the_server_keeps_serving(endpoint, body, status, says):
    url, _ = endpoint
    got, answer = post(url, body)
    assert got == status and says in answer.get("error", ""), answer
    ok, fine = post(url, b'{"subject": "still", "body": "up"}')
    assert ok == 200 and "prediction" in fine


def test_serves_own_answer_for_a_route_it_does_not_know_is_what_call_waits_out(endpoint):
    """Pins Ray Serve's text: ``proxy_unsettled`` tells the proxy's own 404 from an app's, by what the proxy says."""
    from runners.steps.deploy import proxy_unsettled

    url, _ = endpoint
    request = urllib.request.Request(url.rsplit("/", 1)[0] + "/nowhere", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(request, timeout=60)
    assert proxy_unsettled(unknown.value.code, unknown.value.read()), "Serve's proxy no longer says 'Path ... not found'"
    refused = urllib.request.Request(url, data=b"[1, 2]", method="POST")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(refused, timeout=60)
    assert bad.value.code == 400 and not proxy_unsettled(bad.value.code, bad.value.read())
