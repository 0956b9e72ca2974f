"""Fingerprints: what a node's result depends on, hashed.

A node's fingerprint covers the part of its resource's normalized spec that can
change its result (a threshold change re-judges a gate without re-running the
evaluation), the fingerprints of its inputs, the content hashes of the data it
reads, and the version of the step's code. Normalization is pydantic's dump with
defaults filled in, as canonical JSON: comments, formatting, key order and
spelling a default out change nothing. A secret in a spec is replaced by its hash
(``compiler.policy.redaction``) before anything is hashed or kept: the lock
records the node's spec, and a secret is never copied out of its spec, while a changed
secret still changes the fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from compiler.paths import resolve_inside
from compiler.steps import STEPS

if TYPE_CHECKING:  # a cached plan builds Fingerprints without loading the spec models (compiler.plan_cache)
    from compiler.data_hash import HashCache
    from compiler.graph import Graph, Node
    from compiler.project import Project

# Each step's code version (compiler/steps.py): bump it when its runner's behaviour changes what it
# produces, and every node of that step is planned as an update.
STEP_CODE_VERSIONS: dict[str, str] = {name: kind.code_version for name, kind in STEPS.items()}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A node's fingerprint with the parts it was computed from, kept to explain changes."""

    value: str
    step: str
    code: str
    spec: dict[str, Any]
    inputs: dict[str, str]
    data: dict[str, str | None]


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (orjson: ten times the standard library's speed)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def normalized_spec(spec: Any) -> dict[str, Any]:
    """The spec as validated, defaults filled in, in JSON types (secrets as written: see ``normalized_specs``)."""
    return spec.model_dump(mode="json", by_alias=True)


def normalized_specs(specs: list[Any]) -> list[dict[str, Any]]:
    """``normalized_spec`` of each, every secret replaced by its redaction (one scan for all of them)."""
    from compiler.policy.redaction import redact_secrets

    return redact_secrets([normalized_spec(spec) for spec in specs])


def spec_view(node: Node, dumped: dict[str, Any]) -> dict[str, Any]:
    """The normalized part of the spec (``normalized_spec``) that can change ``node``'s result."""
    if node.step == "evaluate":
        return {
            "model": dumped["model"], "dataset": dumped["dataset"], "prompt": dumped["prompt"],
            "metrics": [{"metric": m["metric"], "slice_by": m["slice_by"], "grader": m["grader"]} for m in dumped["metrics"]],
        }
    if node.step == "gate":
        return {key: dumped[key] for key in ("min_samples", "metrics", "baseline", "on_fail")}
    if node.step == "finetune" and dumped.get("finetune"):
        dumped = {**dumped, "finetune": {k: v for k, v in dumped["finetune"].items() if k != "max_retries"}}
        dumped["finetune"]["training"] = _training_view(dumped["finetune"]["training"])
    if node.step == "deploy":
        dumped = {**dumped, "serve": serve_view(dumped["serve"])}
    if node.step == "prepare" and dumped.get("on_error", {}).get("action") == "fail":
        # fail (the default) writes what it wrote before on_error existed, whatever ``show`` is: a row it
        # would reject fails the node instead. skip drops rows and lists them, so all of it counts.
        dumped = {k: v for k, v in dumped.items() if k != "on_error"}
    ignored = STEPS[node.step].ignored
    return {key: value for key, value in dumped.items() if key not in ignored}


_LATER_ACTOR_OPTIONS = ("accelerator_type", "resources")  # replica options added after deploy/1


def serve_view(serve: dict[str, Any]) -> dict[str, Any]:
    """A Deployment's normalized ``serve`` block as it is fingerprinted and names a version (runners/steps/deploy.py).

    A replica's options are what the deployment runs, so they count; options added later are left out
    while unset, so a deployment that does not use them keeps its fingerprint and version name."""
    options = serve["ray_actor_options"]
    kept = {k: v for k, v in options.items() if k not in _LATER_ACTOR_OPTIONS or v is not None}
    return serve if kept == options else {**serve, "ray_actor_options": kept}


def _training_view(training: dict[str, Any]) -> dict[str, Any]:
    """The training block as it changes the result: gradient checkpointing recomputes the same activations
    (never part of it), and fp32, the precision every fine-tune had before ``precision`` existed, is left
    out so those fine-tunes keep their fingerprints; bf16 and fp16 compute other numbers and are kept."""
    view = {k: v for k, v in training.items() if k != "gradient_checkpointing"}
    if view.get("precision") == "fp32":
        del view["precision"]
    return view


def fingerprint_node(node: Node, spec: dict[str, Any], inputs: dict[str, str], data: dict[str, str | None]) -> Fingerprint:
    """Pure: the fingerprint of ``node`` from its parts."""
    code = STEP_CODE_VERSIONS[node.step]
    payload = canonical({"node": node.id, "step": node.step, "code": code, "spec": spec, "inputs": inputs, "data": data})
    value = hashlib.sha256(payload).hexdigest()[:32]
    return Fingerprint(value, node.step, code, spec, inputs, data)


def data_sources(project: Project, node: Node) -> list[str]:
    """The repository paths a node's step reads, as its spec writes them: a file-backed dataset's ``source.path``,
    a Model's ``base.path`` (its weights are data: new weights in the folder retrain what starts from them)."""
    spec = project.resources[node.resource].spec
    if node.step == "prepare":
        return [spec.source.path] if spec.source.path else []
    base = getattr(spec, "base", None)
    if node.step in ("import", "finetune") and base is not None and base.path:
        return [base.path]
    return []


def fingerprint_graph(project: Project, graph: Graph, hashes: HashCache | None = None) -> dict[str, Fingerprint]:
    """Fingerprints of every node, in topological order (inputs are always computed first)."""
    from compiler.data_hash import HashCache, data_md5

    cache = hashes or HashCache(project.root)
    prints: dict[str, Fingerprint] = {}
    refs = list(dict.fromkeys(node.resource for node in graph.nodes.values()))  # a gate's two nodes share one dump
    dumps = dict(zip(refs, normalized_specs([project.resources[ref].spec for ref in refs])))
    for node in graph.nodes.values():
        dumped = dumps[node.resource]
        data: dict[str, str | None] = {}
        for source in data_sources(project, node):
            target = resolve_inside(project.root, source)
            data[source] = data_md5(target, cache) if target is not None else None
        inputs = {dep: prints[dep].value for dep in node.inputs}
        prints[node.id] = fingerprint_node(node, spec_view(node, dumped), inputs, data)
    if hashes is None:
        cache.save()
    return prints
