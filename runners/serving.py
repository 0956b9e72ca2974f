"""The Ray Serve application of a Deployment: a router over one or two model versions.

Each version is a ``ModelServer`` deployment named after its model fingerprint; the
ingress ``Router`` splits traffic between versions by weight (a canary rollout moves the
weights in steps, through ``user_config``, without restarting a replica). Every answer
names the version that gave it, so a client (or a drift check) sees what serves.

The classes are plain; ``build_app`` wraps them with ``serve.deployment`` so importing this
module does not import Ray.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any


class ModelServer:
    """One model version: loads the predictor once per replica, renders the prompt, predicts in batches."""

    def __init__(self, model_dir: str, prompt: dict[str, Any] | None, version: str, num_threads: int | None) -> None:
        from runners.modeling.predictor import load_predictor

        self.predictor = load_predictor(Path(model_dir), num_threads=num_threads)
        self.version = version
        self.render = None
        if prompt:
            from compiler.prompt_render import prompt_renderer
            from llmops_spec.prompt import PromptSpec

            self.render = prompt_renderer(PromptSpec.model_validate(prompt, strict=False))

    def texts(self, rows: list[Any]) -> list[str]:
        if self.render is None:
            return [row if isinstance(row, str) else str(row.get("text", "")) for row in rows]
        return [self.render(row if isinstance(row, dict) else {"text": row}) for row in rows]

    def predict(self, rows: list[Any]) -> dict[str, Any]:
        started = time.perf_counter()
        outputs = self.predictor.predict(self.texts(rows))
        return {"predictions": outputs, "version": self.version, "ms": round((time.perf_counter() - started) * 1000, 3)}

    def check_health(self) -> None:
        self.predictor.predict(self.texts(["health check"]))


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

        if request.method == "GET":
            return JSONResponse({"deployment": self.deployment, "weights": self.weights})
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "send JSON: {\"text\": ...}, {\"inputs\": [...]}, or a row of prompt variables"},
                                status_code=400)
        rows = body.get("inputs") if isinstance(body, dict) and "inputs" in body else [body]
        if not isinstance(rows, list) or not rows:
            return JSONResponse({"error": "inputs must be a non-empty list"}, status_code=400)
        version = self.pick()
        result = await self.versions[version].predict.remote(rows)
        if not (isinstance(body, dict) and "inputs" in body):
            result = {"prediction": result["predictions"][0], "version": result["version"], "ms": result["ms"]}
        return JSONResponse(result)


def build_app(deployment: str, versions: dict[str, dict[str, Any]], weights: dict[str, float], spec: Any) -> Any:
    """The Serve application: ``versions`` maps a version name to {model_dir, prompt}; ``spec`` is the DeploymentSpec."""
    from ray import serve

    serve_spec = spec.serve
    options: dict[str, Any] = {
        "max_ongoing_requests": serve_spec.max_ongoing_requests,
        "ray_actor_options": {k: v for k, v in serve_spec.ray_actor_options.model_dump().items() if v is not None},
        "health_check_period_s": serve_spec.health_check_period_s,
    }
    if serve_spec.autoscaling is not None:
        options["autoscaling_config"] = serve_spec.autoscaling.model_dump()
    else:
        options["num_replicas"] = serve_spec.num_replicas
    threads = max(1, int(serve_spec.ray_actor_options.num_cpus or 1))
    bound = {
        name: serve.deployment(ModelServer, name=name, **options).bind(v["model_dir"], v.get("prompt"), name, threads)
        for name, v in versions.items()
    }
    router = serve.deployment(Router, name="router", num_replicas=1, ray_actor_options={"num_cpus": 0},
                              user_config={"weights": weights})
    return router.bind(bound, weights, deployment)
