"""The plan: the graph diffed against the lock, with the reason for every change.

Pure: ``plan_changes`` takes fingerprints and a lock and returns a Plan value that
``apply`` executes as is (Terraform's contract: the plan is a value, apply consumes it).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from compiler.fingerprint import Fingerprint
from compiler.lockfile import Lock, LockEntry

PLAN_FORMAT_VERSION = 1
ACTIONS = ("create", "update", "delete", "no-op")


class NodeView(Protocol):
    """What planning reads of a node: a ``compiler.graph.Node``, or a cached plan's node of plain strings."""

    @property
    def id(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def resource(self) -> object: ...  # its str() is Kind/name
    @property
    def inputs(self) -> tuple[str, ...]: ...


class GraphView(Protocol):
    """Nodes in topological order: a ``compiler.graph.Graph``, or a cached plan's (which imports no spec model)."""

    @property
    def nodes(self) -> Mapping[str, NodeView]: ...


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a node changes: ``kind`` is new | spec | data | code | upstream | drift | removed."""

    kind: str
    detail: str
    path: str | None = None
    old: Any = None
    new: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "detail": self.detail}
        if self.path is not None:
            out.update(path=self.path, old=self.old, new=self.new)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(str(data["kind"]), str(data.get("detail", "")), data.get("path"), data.get("old"), data.get("new"))


@dataclass(frozen=True, slots=True)
class Change:
    node: str
    action: str
    step: str
    resource: str
    fingerprint: str | None
    previous: str | None
    inputs: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "action": self.action, "step": self.step, "resource": self.resource,
                "fingerprint": self.fingerprint, "previous_fingerprint": self.previous,
                "inputs": list(self.inputs), "reasons": [r.to_dict() for r in self.reasons]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        return cls(str(data["node"]), str(data["action"]), str(data["step"]), str(data["resource"]),
                   data.get("fingerprint"), data.get("previous_fingerprint"), tuple(data.get("inputs") or ()),
                   tuple(Reason.from_dict(r) for r in data.get("reasons") or ()))


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    specs_digest: str
    lock_digest: str
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict, compare=False, repr=False)

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(c.action for c in self.changes)
        return {action: counts.get(action, 0) for action in ACTIONS}

    @property
    def has_changes(self) -> bool:
        return any(c.action != "no-op" for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": PLAN_FORMAT_VERSION, "specs_digest": self.specs_digest, "lock_digest": self.lock_digest,
                "summary": self.summary, "changes": [c.to_dict() for c in self.changes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """A plan as ``plan -o plan.json`` saved it (its freshness is checked apart: compiler/plan_freshness.py).

        Raises ValueError (KeyError, TypeError included) for JSON that is not a plan of this format."""
        if not isinstance(data, Mapping) or data.get("format_version") != PLAN_FORMAT_VERSION:
            raise ValueError(f"not an llmops plan of format_version {PLAN_FORMAT_VERSION}")
        try:
            changes = tuple(Change.from_dict(c) for c in data["changes"])
            return cls(changes, str(data["specs_digest"]), str(data["lock_digest"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a malformed plan: {type(exc).__name__}: {exc}") from None

    @property
    def digest(self) -> str:
        """What the apply log names this plan by: the sha256 of its canonical JSON."""
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def specs_digest(files: Mapping[str, str]) -> str:
    """One hash over every spec file's path and sha256: what a plan was made from (apply refuses other specs)."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(f"{path}\0{files[path]}\n".encode())
    return h.hexdigest()


def _leaf_diff(old: Any, new: Any, path: str = "spec") -> list[tuple[str, Any, Any]]:
    """Field-level differences between two normalized specs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(old.keys() | new.keys()):
            out.extend(_leaf_diff(old.get(key), new.get(key), f"{path}.{key}"))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out.extend(_leaf_diff(a, b, f"{path}[{i}]"))
        return out
    return [] if old == new else [(path, old, new)]


def explain(fp: Fingerprint, entry: LockEntry, upstream_actions: dict[str, str]) -> tuple[Reason, ...]:
    """Pure: why ``fp`` differs from what the lock recorded."""
    reasons: list[Reason] = []
    if entry.code != fp.code:
        reasons.append(Reason("code", f"step code changed ({entry.code or 'unknown'} -> {fp.code})", "code", entry.code, fp.code))
    for path, old, new in _redacted(_leaf_diff(entry.spec, fp.spec)):
        reasons.append(Reason("spec", f"{path}: {_short(old)} -> {_short(new)}", path, old, new))
    for source in sorted(entry.data.keys() | fp.data.keys()):
        old, new = entry.data.get(source), fp.data.get(source)
        if old != new:
            reasons.append(Reason("data", f"data {source} changed ({_md5(old)} -> {_md5(new)})", source, old, new))
    for dep in sorted(entry.inputs.keys() | fp.inputs.keys()):
        old, new = entry.inputs.get(dep), fp.inputs.get(dep)
        if old == new:
            continue
        if old is None:
            reasons.append(Reason("upstream", f"new input {dep}", dep, None, new))
        elif new is None:
            reasons.append(Reason("upstream", f"input {dep} removed", dep, old, None))
        else:
            how = upstream_actions.get(dep, "update")
            reasons.append(Reason("upstream", f"upstream {dep} {'changes' if how != 'no-op' else 'changed'}", dep, old, new))
    if not reasons:
        reasons.append(Reason("spec", "fingerprint changed (node identity)"))
    return tuple(reasons)


def _redacted(diffs: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """Spec differences with every secret replaced by its hash: a lock written before secrets were redacted
    holds them as written, and plan output goes to CI logs and PR comments."""
    if not diffs:
        return diffs
    from compiler.policy.redaction import redact_changes

    return redact_changes(diffs)


def _short(value: Any) -> str:
    text = "null" if value is None else str(value) if not isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _md5(value: str | None) -> str:
    return value[:8] if value else "missing"


def plan_changes(graph: GraphView, prints: dict[str, Fingerprint], lock: Lock, specs_digest: str,
                 drift: dict[str, str] | None = None) -> Plan:
    """Pure: every node as create / update / no-op, and lock entries without a node as delete.

    ``drift`` (deploy node -> what is wrong, from ``compiler.drift``) turns an unchanged
    deployment that no longer serves what the lock says into an update that fixes it.
    """
    drift = drift or {}
    changes: list[Change] = []
    actions: dict[str, str] = {}
    for node in graph.nodes.values():
        fp = prints[node.id]
        entry = lock.nodes.get(node.id)
        if entry is None:
            action, reasons = "create", (Reason("new", "not applied yet"),)
        elif entry.fingerprint == fp.value and node.id in drift:
            action, reasons = "update", (Reason("drift", drift[node.id]),)
        elif entry.fingerprint == fp.value:
            action, reasons = "no-op", ()
        else:
            action, reasons = "update", explain(fp, entry, actions)
        actions[node.id] = action
        changes.append(Change(node.id, action, node.step, str(node.resource), fp.value,
                              entry.fingerprint if entry else None, node.inputs, reasons))
    for nid in teardown_order(lock, [nid for nid in lock.nodes if nid not in graph.nodes]):
        entry = lock.nodes[nid]
        changes.append(Change(nid, "delete", entry.step, entry.resource, None, entry.fingerprint, (),
                              (Reason("removed", f"{entry.resource} is no longer in the specs"),)))
    return Plan(tuple(changes), specs_digest, lock.digest, prints)


def teardown_order(lock: Lock, gone: list[str]) -> list[str]:
    """Removed nodes with every consumer before what it consumed (a deployment before its model)."""
    remaining = set(gone)
    order: list[str] = []
    while remaining:
        consumed = {dep for nid in remaining for dep in lock.nodes[nid].inputs if dep in remaining}
        layer = sorted(remaining - consumed) or sorted(remaining)  # a cycle in a hand-edited lock: any order
        order.extend(layer)
        remaining -= set(layer)
    return order
