"""Lineage: what served a Deployment at a moment, and everything it was made from.

The apply log says which deploy run was current at the moment (its fingerprint); the
lock entries of that run (every committed version of ``llmops.lock``) name the exact
input fingerprints, so the walk upstream follows what actually ran, not what the specs
say today. The specs at the applied commit (compiled for real) give each resource's
settings, and the spec history names the commit and author that introduced each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.audit.at_commit import project_at
from compiler.audit.git import Repo, file_versions
from compiler.audit.history import SpecCommit, introduced_by, iso, spec_history
from compiler.audit.moments import Moment, NodeState, gates_at, runs_until, state_at, when
from compiler.audit.snapshot import BlobCache
from compiler.lockfile import LOCK_NAME, LockEntry, lock_bytes, parse_lock


@dataclass(frozen=True)
class LineageItem:
    """One node the deployment was made from, with where each fact came from."""

    node: str
    resource: str
    step: str
    fingerprint: str
    outputs: dict[str, Any] = field(default_factory=dict)     # output name -> md5 (DVC)
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)        # source file -> md5
    settings: dict[str, Any] = field(default_factory=dict)    # what an auditor asks of this kind (transforms, training...)
    applied: dict[str, Any] | None = None                     # when, by whom, from which commit, which record
    introduced: dict[str, Any] | None = None                  # the commit that last changed the resource's spec

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "resource": self.resource, "step": self.step, "fingerprint": self.fingerprint,
                "outputs": self.outputs, "metrics": self.metrics, "data": self.data, "settings": self.settings,
                "applied": self.applied, "introduced": self.introduced}


@dataclass(frozen=True)
class Lineage:
    deployment: str
    moment: Moment
    serving: bool
    note: str
    commit: str | None = None
    items: tuple[LineageItem, ...] = ()
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    waivers: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "at": self.moment.iso, "at_label": self.moment.label,
                "serving": self.serving, "note": self.note, "commit": self.commit,
                "items": [i.to_dict() for i in self.items], "gates": self.gates, "waivers": list(self.waivers)}


def lock_entries(repo: Repo, root: Path) -> dict[tuple[str, str], LockEntry]:
    """(node, fingerprint) -> its entry, from every committed version of the lock and the working tree's."""
    versions = [raw for _, raw in reversed(file_versions(repo, repo.path(LOCK_NAME)))]
    working, _ = lock_bytes(root)  # unreadable (a FIFO, a link out): only the committed versions count
    if working is not None:
        versions.append(working)
    entries: dict[tuple[str, str], LockEntry] = {}
    for raw in versions:
        lock, _ = parse_lock(raw)
        for nid, entry in lock.nodes.items():
            entries[(nid, entry.fingerprint)] = entry
    return entries


_SETTINGS = {
    "prepare": ("source", "format", "transforms", "splits", "license"),
    "prompt": ("template", "variables"),
    "finetune": ("base", "task", "finetune", "post"),
    "import": ("base", "task", "post"),
    "evaluate": ("model", "dataset", "prompt", "metrics"),
    "gate": ("min_samples", "metrics", "baseline"),
    "deploy": ("model", "prompt", "requires", "environment", "serve", "rollout"),
}


def _settings(step: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    return {key: spec[key] for key in _SETTINGS.get(step, ()) if spec and key in spec}


def _commit_facts(entry: SpecCommit | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    c = entry.commit
    return {"commit": c.sha, "author": c.author, "email": c.email, "date": iso(c.authored), "message": c.subject}


def _applied(run: NodeState | None, entry: LockEntry | None) -> dict[str, Any] | None:
    if run is not None:
        return {"at": run.when, "by": run.who, "commit": run.commit, "record": run.seq}
    if entry is not None and entry.applied_at:
        return {"at": entry.applied_at, "by": entry.applied_by, "commit": entry.commit, "record": None}
    return None


def trace(deployment: str, moment: Moment, records: list[dict[str, Any]], entries: dict[tuple[str, str], LockEntry],
          graph_inputs: dict[str, tuple[str, ...]], specs: dict[str, dict[str, Any]], history: list[SpecCommit],
          waivers: list[dict[str, Any]], commit: str | None) -> Lineage:
    """Pure: the lineage of ``deployment`` at ``moment`` from the facts gathered by ``lineage``."""
    deploy = f"{deployment}:deploy"
    state = state_at(records, moment.at)
    runs = runs_until(records, moment.at)
    serving = state.get(deploy)
    if serving is None:
        return Lineage(deployment, moment, False, f"nothing from {deployment} was serving at {moment.iso}", commit)
    items: list[LineageItem] = []
    seen: set[str] = set()
    queue = [(deploy, serving.fingerprint)]
    while queue:
        node, fp = queue.pop(0)
        if node in seen:
            continue
        seen.add(node)
        entry = entries.get((node, fp))
        run = runs.get((node, fp))
        resource, step = node.rsplit(":", 1)
        inputs = dict(entry.inputs) if entry is not None else {
            dep: state[dep].fingerprint for dep in graph_inputs.get(node, ()) if dep in state}
        queue.extend(sorted(inputs.items()))
        items.append(LineageItem(
            node, resource, step, fp,
            outputs=dict(run.outputs if run and run.outputs else entry.outputs if entry else {}),
            metrics=dict(run.metrics if run and run.metrics else entry.metrics if entry else {}),
            data=dict(entry.data) if entry else {},
            settings=_settings(step, specs.get(resource)),
            applied=_applied(run, entry),
            introduced=_commit_facts(introduced_by(history, resource))))
    refs = {item.resource for item in items}
    gates = {ref: verdict for ref, verdict in gates_at(records, moment.at).items() if ref in refs}
    day = moment.at.date().isoformat()
    in_force = tuple(w for w in waivers if str(w.get("expires")) >= day and refs & set(w.get("resources", ())))
    note = f"{deployment} served fingerprint {serving.fingerprint} (applied {serving.when} by {serving.who})"
    return Lineage(deployment, moment, True, note, serving.commit or commit, tuple(items), gates, in_force)


def lineage(repo: Repo, root: Path, deployment: str, moment: Moment, records: list[dict[str, Any]],
            cache: BlobCache) -> Lineage:
    """Gather the facts (lock history, the specs at the applied commit, spec history) and trace."""
    state = state_at(records, moment.at)
    serving = state.get(f"{deployment}:deploy")
    commit = serving.commit if serving and serving.commit else moment.commit or _commit_before(repo, moment)
    graph_inputs: dict[str, tuple[str, ...]] = {}
    specs: dict[str, dict[str, Any]] = {}
    waivers: list[dict[str, Any]] = []
    history: list[SpecCommit] = []
    if commit is not None:
        graph_inputs, specs, waivers = compiled_facts(repo, commit)
        history = spec_history(repo, cache, commit)
    return trace(deployment, moment, records, lock_entries(repo, root), graph_inputs, specs, history, waivers, commit)


def _commit_before(repo: Repo, moment: Moment) -> str | None:
    out = repo.git("rev-list", "-1", f"--before={moment.iso}", "HEAD", check=False).decode().strip()
    return out or None


def compiled_facts(repo: Repo, commit: str) -> tuple[dict[str, tuple[str, ...]], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The graph's inputs per node, each resource's normalized spec, and the waivers, at ``commit``."""
    from compiler import compile_project

    with project_at(repo, commit) as folder:
        compilation = compile_project(folder, use_cache=False)
    graph = {nid: node.inputs for nid, node in compilation.graph.nodes.items()}
    specs: dict[str, dict[str, Any]] = {}
    waivers: list[dict[str, Any]] = []
    for ref, resource in compilation.project.resources.items():
        if resource.model is None:
            continue
        spec = resource.model.spec.model_dump(mode="json", by_alias=True)
        specs[str(ref)] = spec
        if ref.kind == "Waiver":
            waivers.append({"waiver": str(ref), "policy": spec["policy"], "resources": spec["resources"],
                            "reason": spec["reason"], "owner": spec["owner"], "expires": spec["expires"]})
    return graph, specs, waivers


__all__ = ["Lineage", "LineageItem", "lineage", "lock_entries", "trace", "when"]
