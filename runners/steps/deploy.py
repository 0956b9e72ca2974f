"""The Deployment node: serve the gated model on Ray Serve, roll it out, prove it answers.

Runs in the apply driver (it drives Serve's controller), not in a Ray task. A canary
rollout keeps the running version beside the new one and moves traffic through the
spec's steps (10% -> 50% -> 100%), health-checking the app at each step; a replace
rollout swaps at once. ``teardown`` deletes the app of a Deployment removed from specs.

A version names its model by md5 and remote, never by a path of the driver's: each replica
fetches it into a folder of its own version on its node (runners/replica_model.py). A
replica that cannot start says why, and that is the node's failure as soon as Serve reports
it; the version that served before serves again (docs/serving.md).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import time
import urllib.error
import urllib.request
from typing import Any

from runners.cluster import Cluster
from runners.files import write_atomic
from runners.local_head import LOOPBACK
from runners.replica_model import restorable
from runners.serve_request import prompt_inputs, sample_row
from runners.serving import replica_failure
from runners.step import NodeFailed, StepContext, StepResult


def version_name(what_serves: dict[str, Any]) -> str:
    """The version of what answers requests: the model and prompt fingerprints and the serve settings.

    Not the deploy node's fingerprint: a gate threshold edited re-checks the deployment but
    changes nothing that serves, so it must not roll a new version out.
    """
    digest = hashlib.sha256(json.dumps(what_serves, sort_keys=True).encode()).hexdigest()
    return f"v-{digest[:12]}"


def request(url: str, body: dict[str, Any], timeout: float = 30.0, settle: float = 0.0) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url``; the decoded JSON answer.

    For up to ``settle`` seconds, an answer that Serve's proxy gives on its own (``proxy_unsettled``)
    is asked again: a proxy that Serve has just restarted knows no route until its controller tells it.
    """
    data = json.dumps(body).encode()
    deadline = time.monotonic() + settle
    while True:
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            said = exc.read(64 * 1024)
            if not proxy_unsettled(exc.code, said) or time.monotonic() > deadline:
                raise urllib.error.HTTPError(exc.url, exc.code, exc.reason, exc.headers, io.BytesIO(said)) from None
        time.sleep(0.25)


def proxy_unsettled(status: int, body: bytes) -> bool:
    """Pure: an HTTP answer from Serve's proxy itself that a moment can change, never one an app gave.

    A 404 whose text is the proxy's "Path '/x' not found" (the app's own errors are JSON) is a route
    the proxy does not know yet; a 503 is no replica ready to take the request.
    """
    return (status == 404 and body.startswith(b"Path '") and b"' not found." in body) or status == 503


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
    """Serve ``ctx.spec``'s model; ``running_version`` is the lock's record of what serves now (for a canary).

    Any failure is the node's own ``NodeFailed``: Serve's exceptions, a replica that cannot fetch or
    load its model (told by the replica itself), one that is not running within ``timeout``.
    """
    import logging

    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # apply's progress says what happened
    try:
        return _deploy(ctx, cluster, running_version, timeout)
    except NodeFailed:
        raise
    except Exception as exc:  # a Serve or Ray error outside serve.run (serve.start, serve.status): still this node's
        raise NodeFailed(f"{ctx.resource}: Ray Serve failed: {type(exc).__name__}: {str(exc).strip()[:500]}",
                         "see the Serve controller's log (`ray logs`, or the Ray dashboard)", retryable=False) from None


def _deploy(ctx: StepContext, cluster: Cluster, running_version: dict[str, Any] | None, timeout: float) -> StepResult:
    from compiler.fingerprint import serve_view

    spec = ctx.spec
    app = ctx.resource.split("/", 1)[1]
    prompt = ctx.extra.get("prompt")  # read and checked by the driver (runners/node_context.py), as the lock pins it
    new = version_name({"inputs": ctx.extra.get("serving_inputs", {}), "serve": serve_view(spec.serve.model_dump(mode="json")),
                        "env_vars": spec.env_vars})
    versions = {new: {**_model_of(ctx), "prompt": prompt}}
    url = f"http://{_url_host(*serve_http(cluster), cluster.address)}{spec.serve.route_prefix}"
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
    serving_old = bool(old) and old != new and _app_serves(app, old)
    restorable_old = serving_old and restorable((running_version or {}).get("config"))
    steps: list[int] = [100]
    note = ""
    if restorable_old:
        versions = {old: running_version["config"], **versions}
        steps = spec.rollout.steps if spec.rollout.strategy == "canary" else steps
    elif serving_old and spec.rollout.strategy == "canary":
        note = (f"; replaced at once: the running {old} was recorded by an older llmops (its model named by a folder "
                "of the driver, not by md5), so a canary cannot restore it")
    history = []
    for percent in steps:
        weights = {new: percent / 100, **({old: 1 - percent / 100} if percent < 100 and old in versions else {})}
        live = {name: cfg for name, cfg in versions.items() if name in weights}
        try:
            _run(app, live, weights, spec, timeout)
            answer = _probe(url, sample, set(weights))
        except NodeFailed as exc:
            raise _rolled_back(exc, app, old if restorable_old else None, versions, spec) from None
        history.append({"percent": percent, "weights": weights, "probe": answer})
    summary = f"serving {new} at {url}" + (f" (canary {' -> '.join(f'{s}%' for s in steps)} from {old})" if len(steps) > 1 else "")
    return result(history, summary + note)


def _model_of(ctx: StepContext) -> dict[str, Any]:
    """How a replica finds the model, wherever it runs: the artifact's md5 and the remote's address (no credential)."""
    model = ctx.extra.get("model") or {}
    config = {"model_md5": model.get("md5"), "remote": model.get("remote")}
    if not restorable(config):
        raise NodeFailed(f"{ctx.resource}: {ctx.spec.model} has no versioned artifact on a DVC remote to serve "
                         f"({model.get('problem') or 'the lock pins no md5 for it'})",
                         "apply the model first, with a default DVC remote (`llmops init`)", retryable=False)
    return config


def serve_http(cluster: Cluster) -> tuple[str, int]:
    """Start Serve (if it is not running) on the cluster's HTTP host and port; where its proxies listen.

    Serve's HTTP address is fixed while Serve runs: when it already listens elsewhere, that is
    where it serves, unless the user asked for this address (``--serve-host``/``--serve-port``).
    """
    from ray import serve
    from ray.serve.context import _get_global_client

    serve.start(http_options={"host": cluster.serve_host, "port": cluster.serve_port},
                proxy_location=proxy_location(cluster.serve_host))
    config = _get_global_client().http_config
    actual = (str(config.host), int(config.port))
    if actual != (cluster.serve_host, cluster.serve_port) and cluster.serve_asked:
        raise NodeFailed(f"Ray Serve on this cluster already listens on {actual[0]}:{actual[1]}, not on the "
                         f"{cluster.serve_host}:{cluster.serve_port} asked for",
                         "Serve's HTTP address is fixed while it runs: ask for that one, or stop Serve and apply again "
                         "(`llmops down` stops the local cluster; `serve shutdown` an existing one's Serve)", retryable=False)
    return actual


def proxy_location(host: str) -> str:
    """Pure: where Serve runs its HTTP proxies. A loopback address is reached only from the machine it is on, so
    only the head's proxy is of use (the one the URL names); a proxy per worker would bind a loopback no client
    reaches, and where nodes share a network namespace, compete with the head's for the one port."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    return "HeadOnly" if loopback else "EveryNode"


def _url_host(host: str, port: int, address: str) -> str:
    """Pure: ``host:port`` as a URL names it; a wildcard bind address is reached at the cluster's head."""
    if host in ("0.0.0.0", "::", ""):
        head = address.rsplit("://", 1)[-1].rsplit(":", 1)[0].strip("[]") if ":" in address else ""
        host = head if head and head not in ("auto", "localhost") else LOOPBACK
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _run(app: str, live: dict[str, dict[str, Any]], weights: dict[str, float], spec: Any, timeout: float) -> None:
    """Deploy ``live`` and wait until the application runs; a replica's own failure as the node's, as soon as Serve says."""
    from ray import serve

    from runners.serving import build_app

    try:
        serve.run_many([serve.RunTarget(build_app(app, live, weights, spec), name=app, route_prefix=spec.serve.route_prefix)],
                       wait_for_applications_running=False)
    except Exception as exc:  # Serve raises RuntimeError (and others) for an application it will not take
        raise NodeFailed(f"Serve could not deploy {app}: {type(exc).__name__}: {str(exc).strip()[:500]}",
                         "see the Serve controller's log (`ray logs`, or the Ray dashboard); check the prompt renders",
                         retryable=False) from None
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = serve.status().applications.get(app)
        if status is not None and status.status == "RUNNING":
            return
        failed = _failure(app, status, set(live) | {"router"})
        if failed is not None:
            raise failed
        time.sleep(0.25)
    pending = {name: dict(d.replica_states) for name, d in (status.deployments if status else {}).items()}
    raise NodeFailed(f"Serve application {app} is not running after {timeout:.0f}s (replicas: {pending})",
                     "replicas wait for a node with the resources serve.ray_actor_options asks for, or are still "
                     "fetching their model: see `ray status` and the replicas' logs (`ray logs`)", retryable=False)


def _failure(app: str, status: Any, names: set[str]) -> NodeFailed | None:
    """The node's failure when the application or one of its deployments ``names`` has failed; None while it may still
    run (a deployment that is not one of them is on its way out: the failed version a rollback replaces)."""
    if status is None:
        return None
    broken = [(name, d) for name, d in status.deployments.items()
              if name in names and d.status in ("DEPLOY_FAILED", "UNHEALTHY")]
    leaving = any(name not in names for name in status.deployments)  # the app's status may still be about those
    if not broken and (status.status not in ("DEPLOY_FAILED", "UNHEALTHY") or leaving):
        return None
    texts = [status.message or ""] + [d.message or "" for _, d in broken]
    told = next((t for t in (replica_failure(text) for text in texts) if t), None)
    if told is not None:
        version = broken[0][0] if broken else app
        return NodeFailed(f"{app}: the replica of {version} could not start: {told[0]}", told[1], retryable=False)
    said = next((t.strip() for t in texts if t.strip()), str(status.status))
    return NodeFailed(f"Serve application {app} is {status.status}: {said[:500]}",
                      "see the replicas' logs (`ray logs`, or the Ray dashboard); check that the model loads "
                      "and the prompt renders", retryable=False)


def _rolled_back(exc: NodeFailed, app: str, old: str | None, versions: dict[str, dict[str, Any]], spec: Any) -> NodeFailed:
    """After a failed step: the running version alone again when it can be restored, else no application; ``exc`` told so."""
    from ray import serve

    try:
        if old is None:
            serve.delete(app)
            after = "the application was deleted"
        else:
            _run(app, {old: versions[old]}, {old: 1.0}, spec, timeout=60.0)
            after = f"{old} serves again"
    except Exception as undo:  # NodeFailed included: the first failure is the one to tell
        after = f"rolling back failed too: {getattr(undo, 'message', undo)}"[:300]
    return NodeFailed(f"{exc.message} ({after})", exc.hint, retryable=False)


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
