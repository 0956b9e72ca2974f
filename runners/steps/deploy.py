"""The Deployment node: serve the gated model on Ray Serve, roll it out, prove it answers.

Runs in the apply driver (it drives Serve's controller), not in a Ray task. A canary
rollout keeps the running version beside the new one and moves traffic through the
spec's steps (10% -> 50% -> 100%), health-checking the app at each step; a replace
rollout swaps at once. ``teardown`` deletes the app of a Deployment removed from specs.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from typing import Any

from runners.cluster import Cluster
from runners.files import write_atomic
from runners.serve_request import prompt_inputs, sample_row
from runners.step import NodeFailed, StepContext, StepResult


def version_name(what_serves: dict[str, Any]) -> str:
    """The version of what answers requests: the model and prompt fingerprints and the serve settings.

    Not the deploy node's fingerprint: a gate threshold edited re-checks the deployment but
    changes nothing that serves, so it must not roll a new version out.
    """
    digest = hashlib.sha256(json.dumps(what_serves, sort_keys=True).encode()).hexdigest()
    return f"v-{digest[:12]}"


def _wait_running(app: str, timeout: float) -> None:
    from ray import serve

    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = serve.status().applications.get(app)
        if status is not None and status.status == "RUNNING":
            return
        if status is not None and status.status in ("DEPLOY_FAILED", "UNHEALTHY"):
            break
        time.sleep(0.5)
    message = getattr(status, "message", "") if status is not None else "the application never appeared"
    raise NodeFailed(f"Serve application {app} is not running: {(message or str(getattr(status, 'status', '')))[:500]}",
                     "see the replica logs with `ray logs` or the Ray dashboard; check the model folder loads")


def request(url: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url``; the decoded JSON answer."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return json.loads(response.read())


def _probe(url: str, sample: dict[str, Any], expect: set[str], attempts: int = 20) -> dict[str, Any]:
    last: Exception | None = None
    for _ in range(attempts):
        try:
            answer = request(url, sample)
            if answer.get("version") in expect:
                return answer
            last = ValueError(f"answered by {answer.get('version')}, expected one of {sorted(expect)}")
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code != 404:  # the app refuses the probe: retrying will not help
                raise NodeFailed(f"the endpoint {url} refused its health check {sample}: HTTP {exc.code} {_error_of(exc)}",
                                 "the request a prompt needs carries each input column it reads", retryable=False) from None
            last = exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise NodeFailed(f"the endpoint {url} did not answer its health check: {last}",
                     "see the Ray dashboard for the replicas' logs")


def _error_of(exc: urllib.error.HTTPError) -> str:
    """The ``error`` an endpoint's 4xx answer carries, else its reason."""
    try:
        return str(json.loads(exc.read(64 * 1024)).get("error", exc.reason))[:500]
    except (OSError, ValueError, AttributeError):
        return str(exc.reason)


def deploy(ctx: StepContext, cluster: Cluster, running_version: dict[str, Any] | None, timeout: float = 300.0) -> StepResult:
    """Serve ``ctx.spec``'s model; ``running_version`` is the lock's record of what serves now (for a canary)."""
    import logging

    from ray import serve

    from compiler.fingerprint import serve_view
    from runners.serving import build_app

    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # apply's progress says what happened
    spec = ctx.spec
    app = ctx.resource.split("/", 1)[1]
    model_dir = ctx.input(spec.model) / "model"
    prompt = json.loads((ctx.input(spec.prompt) / "prompt.json").read_text()) if spec.prompt else None
    new = version_name({"inputs": ctx.extra.get("serving_inputs", {}), "serve": serve_view(spec.serve.model_dump(mode="json")),
                        "env_vars": spec.env_vars})
    versions = {new: {"model_dir": str(ctx.input(spec.model)), "prompt": prompt}}
    if not model_dir.exists():
        raise NodeFailed(f"{ctx.resource}: the model folder {model_dir} is missing", "run `llmops pull`", retryable=False)
    serve.start(http_options={"host": "127.0.0.1", "port": cluster.serve_port})
    url = f"http://127.0.0.1:{cluster.serve_port}{spec.serve.route_prefix}"
    sample = sample_row(prompt_inputs(prompt))
    old = (running_version or {}).get("version")

    def result(history: list[dict[str, Any]], summary: str) -> StepResult:
        record = {"app": app, "url": url, "route_prefix": spec.serve.route_prefix, "version": new,
                  "config": versions[new], "replaced": old if old != new else None, "rollout": history,
                  "address": cluster.address}
        write_atomic(ctx.out / "deployment.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
        return StepResult(metrics=dict(ctx.extra.get("gate_metrics", {})), summary=summary, details=record)

    if old == new and _app_serves(app, new):  # nothing that serves changed (say, a gate threshold): just re-check it
        return result([{"percent": 100, "probe": _probe(url, sample, {new})}], f"already serving {new} at {url}")
    steps: list[int] = [100]
    if spec.rollout.strategy == "canary" and old and old != new and _app_serves(app, old):
        versions = {old: running_version["config"], **versions}
        steps = spec.rollout.steps
    history = []
    for percent in steps:
        weights = {new: percent / 100, **({old: 1 - percent / 100} if percent < 100 and old in versions else {})}
        live = {name: cfg for name, cfg in versions.items() if name in weights}
        try:
            serve.run(build_app(app, live, weights, spec), name=app, route_prefix=spec.serve.route_prefix, blocking=False)
        except Exception as exc:  # Serve raises RuntimeError (and others) for an app whose replicas fail to start
            raise NodeFailed(f"Serve could not deploy {app}: {type(exc).__name__}: {str(exc).strip()[:500]}",
                             "see the replica logs with `ray logs` or the Ray dashboard; check the model folder loads "
                             "and the prompt renders", retryable=False) from None
        _wait_running(app, timeout)
        answer = _probe(url, sample, set(weights))
        history.append({"percent": percent, "weights": weights, "probe": answer})
    summary = f"serving {new} at {url}" + (f" (canary {' -> '.join(f'{s}%' for s in steps)} from {old})" if len(steps) > 1 else "")
    return result(history, summary)


def _app_serves(app: str, version: str) -> bool:
    from ray import serve

    status = serve.status().applications.get(app)
    return status is not None and version in status.deployments


def teardown(app: str) -> bool:
    """Delete the Serve application of a removed Deployment; False when it was not running."""
    from ray import serve

    if app not in serve.status().applications:
        return False
    serve.delete(app)
    return True
