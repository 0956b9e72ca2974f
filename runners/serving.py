"""The Ray Serve application of a Deployment: a router over one or two model versions.

Each version is a ``ModelServer`` deployment named after its model fingerprint; the
ingress ``Router`` splits traffic between versions by weight (a canary rollout moves the
weights in steps, through ``user_config``, without restarting a replica). Every answer
names the version that gave it, so a client (or a drift check) sees what serves.

The classes are plain; ``build_app`` wraps them with ``serve.deployment`` so importing this
module does not import Ray.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from typing import Any

from runners.step import NodeFailed

# a replica's failure, as Serve's status message carries the constructor's exception: one line of JSON after the mark
REPLICA_FAILED = "llmops-replica-failed: "
_FAILED = re.compile(re.escape(REPLICA_FAILED) + r"(\{.*\})\s*$", re.MULTILINE)
# tries of a version's replicas before Serve calls it DEPLOY_FAILED: a model that fails its md5 or does not load
# fails the same way every time, so apply says so in seconds (Serve's default, 3 per replica, took over a minute)
CONSTRUCTOR_TRIES = 2


class ReplicaFailed(NodeFailed):
    """Why a replica could not start (its message and hint); its text is what the driver reads back from Serve's status."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, retryable=False)
        self.args = (REPLICA_FAILED + json.dumps({"message": message, "hint": hint}),)

    def __reduce__(self) -> tuple:  # across processes as it was raised, not re-wrapped
        return (ReplicaFailed, (self.message, self.hint))


def replica_failure(text: str) -> tuple[str, str | None] | None:
    """Pure: the (message, hint) of the last ``ReplicaFailed`` that a Serve status message quotes; None when none."""
    for body in reversed(_FAILED.findall(text or "")):
        try:
            told = json.loads(body)
        except ValueError:
            continue
        if isinstance(told, dict) and isinstance(told.get("message"), str):
            hint = told.get("hint")
            return told["message"], hint if isinstance(hint, str) else None
    return None


class ModelServer:
    """One model version: fetches its model by md5 (runners/replica_model.py) and loads it once per replica,
    renders the prompt, predicts in batches. A replica that cannot start says why in a ``ReplicaFailed``."""

    def __init__(self, model: dict[str, Any], prompt: dict[str, Any] | None, version: str, num_threads: int | None,
                 num_gpus: float = 0.0) -> None:
        from runners.modeling.predictor import load_predictor
        from runners.replica_model import local_model
        from runners.serve_request import prompt_inputs

        try:
            self.folder = local_model(version, model)
            # a replica given GPUs (ray_actor_options.num_gpus) computes on CUDA
            self.predictor = load_predictor(self.folder, num_threads=num_threads, num_gpus=num_gpus,
                                            what=f"the replica of {version}")
        except NodeFailed as exc:
            raise ReplicaFailed(exc.message, exc.hint) from None
        except Exception as exc:  # weights that do not load (torch, transformers, safetensors raise their own)
            raise ReplicaFailed(f"the replica of {version} cannot load the model {model.get('model_md5')}: "
                                f"{type(exc).__name__}: {str(exc).strip()[:300]}",
                                "check that the model artifact loads (`llmops pull`, then load it with transformers)") from None
        self.version = version
        self.inputs = prompt_inputs(prompt)
        self.render = None
        if prompt:
            from compiler.prompt_render import prompt_renderer
            from llmops_spec.prompt import PromptSpec

            self.render = prompt_renderer(PromptSpec.model_validate(prompt, strict=False))

    def texts(self, rows: list[Any]) -> list[str]:
        """The model's input text of each request row; BadRequest for a row the prompt cannot read."""
        from runners.serve_request import BadRequest, input_row

        values = [input_row(row, self.inputs, i if len(rows) > 1 else 0) for i, row in enumerate(rows)]
        if self.render is None:
            return [row["text"] for row in values]
        texts = []
        for i, row in enumerate(values):
            try:
                texts.append(self.render(row))
            except Exception as exc:  # a template error on this row's values (the sandbox's own limits included)
                raise BadRequest(f"the prompt does not render for row {i}: {type(exc).__name__}: {exc}"[:500]) from None
        return texts

    def predict(self, rows: list[Any]) -> dict[str, Any]:
        """The answers, or ``{"error", "status"}`` for a request the prompt cannot read (the router answers 4xx)."""
        from runners.serve_request import BadRequest

        started = time.perf_counter()
        try:
            texts = self.texts(rows)
        except BadRequest as exc:
            return {"error": exc.message, "status": exc.status, "version": self.version}
        outputs = self.predictor.predict(texts)
        return {"predictions": outputs, "version": self.version, "ms": round((time.perf_counter() - started) * 1000, 3)}

    def check_health(self) -> None:
        from runners.serve_request import sample_row

        self.predictor.predict(self.texts([sample_row(self.inputs)]))


class Router:
    """The ingress: HTTP in, a version chosen by weight, the answer out with the version's name."""

    def __init__(self, versions: dict[str, Any], weights: dict[str, float], deployment: str) -> None:
        self.versions = versions
        self.weights = weights
        self.deployment = deployment
        self.rng = random.Random()

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.weights = {k: float(v) for k, v in config.get("weights", {}).items() if k in self.versions}

    def pick(self) -> str:
        names = [name for name, weight in self.weights.items() if weight > 0] or list(self.versions)
        return self.rng.choices(names, weights=[self.weights.get(n, 1.0) for n in names])[0]

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        from runners.serve_request import BadRequest, request_rows

        if request.method == "GET":
            return JSONResponse({"deployment": self.deployment, "weights": self.weights})
        try:
            rows, batch = request_rows(await read_json(request))
        except BadRequest as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        version = self.pick()
        result = await self.versions[version].predict.remote(rows)
        if "error" in result:
            return JSONResponse({"error": result["error"], "version": result["version"]}, status_code=result["status"])
        if not batch:
            result = {"prediction": result["predictions"][0], "version": result["version"], "ms": result["ms"]}
        return JSONResponse(result)


async def read_json(request: Any) -> Any:
    """The request's JSON, read no further than MAX_BODY_BYTES; BadRequest (400, 413) otherwise.

    An oversized body is still read to its end (discarded, up to MAX_DRAIN_BYTES) before the 413
    goes out: a server that answers and closes while the client is still sending makes the
    client's kernel see a reset instead of the answer (what nginx's lingering close avoids).
    """
    import json

    from runners.serve_request import MAX_BODY_BYTES, MAX_DRAIN_BYTES, SHAPES, BadRequest

    declared = request.headers.get("content-length")
    declared = int(declared) if declared is not None and declared.isdigit() else None
    if declared is not None and declared > MAX_DRAIN_BYTES:
        raise BadRequest(f"the body is {declared} bytes; the limit is {MAX_BODY_BYTES}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DRAIN_BYTES:
            break
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        said = f"{declared} bytes" if declared is not None else f"over {MAX_BODY_BYTES} bytes"
        raise BadRequest(f"the body is {said}; the limit is {MAX_BODY_BYTES}", 413)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: [[[[...
        raise BadRequest(f"the body is not JSON: {SHAPES}") from None


def build_app(deployment: str, versions: dict[str, dict[str, Any]], weights: dict[str, float], spec: Any) -> Any:
    """The Serve application: ``versions`` maps a version name to its config ({model_md5, remote, prompt}: see
    runners/replica_model.py); ``spec`` is the DeploymentSpec."""
    from ray import serve

    serve_spec = spec.serve
    options: dict[str, Any] = {
        "max_ongoing_requests": serve_spec.max_ongoing_requests,
        "ray_actor_options": {k: v for k, v in serve_spec.ray_actor_options.model_dump().items() if v is not None},
        "health_check_period_s": serve_spec.health_check_period_s,
        "max_constructor_retry_count": CONSTRUCTOR_TRIES,
    }
    if serve_spec.autoscaling is not None:
        options["autoscaling_config"] = serve_spec.autoscaling.model_dump()
    else:
        options["num_replicas"] = serve_spec.num_replicas
    threads = max(1, int(serve_spec.ray_actor_options.num_cpus or 1))
    bound = {}
    for name, v in versions.items():
        args = (_model(v), v.get("prompt"), name, threads, serve_spec.ray_actor_options.num_gpus)
        bound[name] = _stable(serve.deployment(ModelServer, name=name, **options), args).bind(*args)
    router = serve.deployment(Router, name="router", num_replicas=1, ray_actor_options={"num_cpus": 0},
                              user_config={"weights": weights})
    return _stable(router, (sorted(versions), deployment)).bind(bound, weights, deployment)


def _stable(deployment: Any, args: Any) -> Any:
    """``deployment`` with a code version that changes only with what its replicas are built from.

    ``serve.run`` gives a deployment without one a random version, so every run restarted every
    replica: each canary step restarted the running version's replicas. With it, a step that
    only moves weights reconfigures the router (``user_config``) and leaves the model replicas
    running; options such as ``ray_actor_options`` still restart them, as Serve decides.
    """
    version = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return deployment.options(version=version, _internal=True)  # Serve's own way to pin one (the public one was removed)


def _model(config: dict[str, Any]) -> dict[str, Any]:
    """What a replica is told of its model: the md5 and the remote (no credential: runners/remote_odb.py)."""
    return {"model_md5": config.get("model_md5"), "remote": config.get("remote")}
