"""May a deployment proceed? Its required gates' verdicts, re-derived from their evaluations, by md5.

Never from the lock's ``metrics.passed``: the lock is a file anyone can edit. For each
gate the deployment requires, the evaluation (``metrics.json`` of the gate's evaluate
node) is read from DVC's content-addressed store by the md5 the evaluate entry pins,
checked byte for byte (runners/verified_read.py), and judged again with the gate's spec
as it is now (``compiler.gate.decide_gate``). The evaluation names the model it
evaluated (its artifact md5 and fingerprint: runners/steps/evaluate.py); that must be
the model the deployment serves: the model node's entry and the ``.dvc`` file of the
folder Serve loads. Any mismatch or missing object refuses the deployment.
"""

from __future__ import annotations

import json
from typing import Any

from compiler.fingerprint import Fingerprint
from compiler.gate import decide_gate
from compiler.plan import GraphView
from compiler.lockfile import Lock, LockEntry
from compiler.project import Project
from runners.dvc_store import Store
from runners.verified_read import Unverified, read_verified_file


def artifact_md5(store: Store, entry: LockEntry | None) -> str | None:
    """The md5 the entry pins for its node's artifact folder."""
    if entry is None:
        return None
    folder = store.artifact_dir(entry.resource, entry.step).relative_to(store.root)
    md5 = entry.outputs.get(folder.as_posix())
    return md5 if isinstance(md5, str) else None


def pinned_json(store: Store, entry: LockEntry | None, relpath: str) -> dict[str, Any]:
    """The JSON object ``relpath`` of the artifact ``entry`` pins, read from the DVC cache or remote and checked against
    its md5, never the workspace's copy. Raises Unverified, or ValueError ("<relpath> is not JSON" / "... is not an
    object")."""
    try:
        body = json.loads(read_verified_file(store, artifact_md5(store, entry) or "", relpath))
    except ValueError:
        raise ValueError(f"{relpath} is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError(f"{relpath} is not an object")
    return body


def model_binding(project: Project, graph: GraphView, prints: dict[str, Fingerprint], lock: Lock, store: Store,
                  evaluate_node: str) -> dict[str, Any]:
    """What an evaluate node records of the model it evaluates: its node, fingerprint and artifact md5."""
    spec = project.resources[graph.nodes[evaluate_node].resource].spec
    model_node = next((d for d in graph.nodes[evaluate_node].inputs if d.startswith(f"{spec.model}:")), None)
    if model_node is None:
        return {}
    return {"resource": str(spec.model), "node": model_node, "fingerprint": prints[model_node].value,
            "md5": artifact_md5(store, lock.nodes.get(model_node))}


def _baseline(project: Project, lock: Lock, gate: Any, gate_spec: Any) -> dict[str, Any] | None:
    """The baseline the gate step judged against (runners/node_context.py): the deployed model's earned metrics."""
    if gate_spec.baseline is None:
        return None
    deployed = lock.nodes.get(f"{gate_spec.baseline.deployment}:deploy")
    earned = deployed.metrics.get(str(gate)) if deployed else None
    return earned or None


def gates_block(project: Project, graph: GraphView, prints: dict[str, Fingerprint], lock: Lock, store: Store,
                nid: str) -> str | None:
    """Why deployment node ``nid`` may not proceed (None when every required gate passes on the model it serves)."""
    spec = project.resources[graph.nodes[nid].resource].spec
    model_node = next((d for d in graph.nodes[nid].inputs if d.startswith(f"{spec.model}:")), None)
    for gate in spec.requires:
        gate_entry = lock.nodes.get(f"{gate}:gate")
        eval_entry = lock.nodes.get(f"{gate}:evaluate")
        if gate_entry is None or gate_entry.fingerprint != prints[f"{gate}:gate"].value:
            return f"{gate} has not judged the current model"
        if eval_entry is None or eval_entry.fingerprint != prints[f"{gate}:evaluate"].value:
            return f"{gate} has not evaluated the current model"
        if model_node and eval_entry.inputs.get(model_node) != prints[model_node].value:
            return f"{gate} evaluated another version of {spec.model}"
        try:
            evaluation = pinned_json(store, eval_entry, "metrics.json")
        except Unverified as exc:
            return f"{gate}: its evaluation cannot be verified: {exc}"
        except ValueError as exc:
            return f"{gate}: its evaluation's {exc}"
        problem = _binding_problem(store, lock, gate, spec.model, model_node, evaluation, prints)
        if problem:
            return problem
        gate_spec = project.resources[gate.resource].spec
        verdict = decide_gate(gate_spec, evaluation, _baseline(project, lock, gate, gate_spec))
        if not verdict.passed and gate_spec.on_fail == "block":
            return f"{gate} failed on this model ({verdict.summary()}: re-derived from its evaluation)"
    return None


def _binding_problem(store: Store, lock: Lock, gate: Any, model: Any, model_node: str | None,
                     evaluation: dict[str, Any], prints: dict[str, Fingerprint]) -> str | None:
    """Why the evaluation is not of the model the deployment serves."""
    if model_node is None:
        return None
    bound = evaluation.get("model")
    if not isinstance(bound, dict) or not bound.get("md5"):
        return f"{gate}: its evaluation does not record which model it evaluated"
    pinned = artifact_md5(store, lock.nodes.get(model_node))
    if bound.get("md5") != pinned or bound.get("fingerprint") != prints[model_node].value:
        return (f"{gate} evaluated the model {bound.get('md5')} (fingerprint {bound.get('fingerprint')}), "
                f"but {model} is {pinned} (fingerprint {prints[model_node].value})")
    resource, step = model_node.rsplit(":", 1)
    served = store.recorded_md5(store.artifact_dir(resource, step))
    if served != pinned:
        return f"the folder of {model} that would be served is versioned as {served}, not the evaluated {pinned}"
    return None
