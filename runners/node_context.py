"""What a node reads: the artifact paths of its references, the referenced specs, and driver facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.fingerprint import Fingerprint
from compiler.graph import Node
from compiler.lockfile import Lock
from compiler.project import Project
from llmops_spec import Ref
from runners.dvc_store import Store
from runners.step import NodeFailed, StepContext
from runners.task_resources import TaskResources, task_resources


def producing_step(project: Project, ref: Ref) -> str | None:
    """The step whose artifact a reference to ``ref`` reads."""
    target = project.get(ref)
    if target is None or target.spec is None:
        return None
    if target.kind == "Model":
        return "finetune" if target.spec.finetune else "import"
    return {"Dataset": "prepare", "Prompt": "prompt", "EvalGate": "gate", "Deployment": "deploy"}.get(target.kind)


def artifact_of(project: Project, store: Store, ref: Ref) -> Path | None:
    """The path a reference reads: a split's jsonl for a dataset, else the producing node's folder."""
    step = producing_step(project, ref)
    if step is None:
        return None
    folder = store.artifact_dir(str(ref.resource), step)
    if ref.kind == "Dataset":
        return folder / f"{ref.output or 'all'}.jsonl"
    return folder


def node_context(project: Project, store: Store, node: Node, out: Path, prints: dict[str, Fingerprint],
                 lock: Lock, num_cpus: float, num_gpus: float = 0.0, workers: int = 1) -> StepContext:
    """The StepContext of ``node``, reading upstream artifacts where apply puts them; ``num_cpus``, ``num_gpus``
    and ``workers`` are what its task was given (per worker of a data-parallel fine-tune)."""
    resource = project.resources[node.resource]
    spec = resource.spec
    inputs: dict[str, Path] = {}
    specs: dict[str, Any] = {}
    for path, ref in spec.references():
        if node.step == "gate" or (resource.kind == "EvalGate" and path[0] == "baseline"):
            continue
        location = artifact_of(project, store, ref)
        if location is not None and f"{ref.resource}:{producing_step(project, ref)}" in node.inputs:
            inputs[str(ref)] = location  # what the step reads (a prompt's variables name a dataset it never reads)
        target = project.get(ref)
        if target is not None:
            specs[str(ref)] = _redacted(target.spec)
    extra: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus, "workers": workers}
    if node.step == "gate":
        inputs["evaluate"] = store.artifact_dir(str(node.resource), "evaluate")
        if spec.baseline is not None:
            deployed = lock.nodes.get(f"{spec.baseline.deployment}:deploy")
            earned = deployed.metrics.get(str(node.resource)) if deployed else None
            if earned:
                extra["baseline"] = earned
                extra["baseline_source"] = {"deployment": str(spec.baseline.deployment), "fingerprint": deployed.fingerprint}
    if node.step == "deploy":
        extra["gate_metrics"] = {str(gate): _evaluation(store, lock, gate) for gate in spec.requires}
        extra["serving_inputs"] = {dep: prints[dep].value for dep in node.inputs if not dep.startswith("EvalGate/")}
        extra["model"] = _served_model(store, lock, next((d for d in node.inputs if d.startswith(f"{spec.model}:")), None))
        if spec.prompt is not None:
            extra["prompt"] = _served_prompt(store, lock, next(d for d in node.inputs if d.startswith(f"{spec.prompt}:")))
    return StepContext(root=project.root, node=node.id, step=node.step, resource=str(node.resource), spec=spec,
                       out=out, inputs=inputs, specs=specs, fingerprint=prints[node.id].value, extra=extra)


def _served_model(store: Store, lock: Lock, model_node: str | None) -> dict[str, Any]:
    """What a deployment's replicas fetch, wherever they run: the md5 the lock pins for the model node's artifact and
    the remote's address (``RemoteAddress``, no credential); ``problem`` says why either is missing."""
    from runners.deploy_gates import artifact_md5
    from runners.remote_odb import RemoteAddress

    md5 = artifact_md5(store, lock.nodes.get(model_node)) if model_node else None
    try:
        return {"node": model_node, "md5": md5, "remote": RemoteAddress.of(store.repo).to_dict()}
    except Exception as exc:  # NoRemoteError, a config DVC cannot read: the deploy step refuses, saying why
        return {"node": model_node, "md5": md5, "remote": None, "problem": f"{type(exc).__name__}: {exc}"[:300]}


def _served_prompt(store: Store, lock: Lock, prompt_node: str) -> dict[str, Any]:
    """The prompt.json a deployment serves, as the lock pins it: read from the DVC cache or remote and checked
    against its md5 (the workspace need not hold it, and its copy is not trusted)."""
    from runners.deploy_gates import pinned_json
    from runners.verified_read import Unverified

    try:
        return pinned_json(store, lock.nodes.get(prompt_node), "prompt.json")
    except Unverified as exc:
        raise NodeFailed(f"{prompt_node}'s prompt.json cannot be read: {exc}",
                         "apply the prompt again (`llmops plan` shows it)", retryable=False) from None
    except ValueError as exc:
        raise NodeFailed(f"{prompt_node}'s {exc}", "apply the prompt again", retryable=False) from None


def _redacted(spec: Any) -> Any:
    """Another resource's spec as a step reads it: its secrets redacted, as in the prompt.json that serving reads,
    so a prompt trains, evaluates and serves one text and no artifact (predictions, manifests) holds a secret."""
    from compiler.policy.redaction import redact_value

    dumped = spec.model_dump(mode="json", by_alias=True)
    redacted = redact_value("spec", dumped)
    if redacted is dumped:
        return spec
    try:
        return type(spec).model_validate(redacted, strict=False)
    except ValueError:  # a field whose form a redaction breaks (none does today): the spec as validated
        return spec


def _evaluation(store: Store, lock: Lock, gate: Ref) -> dict[str, Any]:
    """The metrics a gate judged (its evaluate step's metrics.json, as the lock pins it: read from the DVC cache or
    remote and checked against its md5, never the workspace's copy), kept in the deployment's lock entry as its
    baseline."""
    from runners.deploy_gates import pinned_json
    from runners.verified_read import Unverified

    try:
        body = pinned_json(store, lock.nodes.get(f"{gate}:evaluate"), "metrics.json")
    except (Unverified, ValueError):
        return {}
    return {"n": body.get("n"), "metrics": body.get("metrics", {}), "counts": body.get("counts", {})}


def step_resources(project: Project, node: Node) -> TaskResources:
    """The Ray resources of ``node``'s task: its resource's ``resources`` block (runners/task_resources.py)."""
    return task_resources(project.resources[node.resource].spec, node.step)
