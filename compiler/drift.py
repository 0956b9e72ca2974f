"""Drift: a deployment the lock says serves version V, checked against what the cluster serves.

Pure: ``detect_drift`` takes the lock and what was observed (from Serve's REST API, by
``runners.serve_observe``, on the cluster llmops knows) and says, per deploy node, why it
no longer matches. An unreachable or unknown cluster is not drift: plan says it could not
check, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.lockfile import Lock


@dataclass(frozen=True)
class Observed:
    """What one Serve application looks like now; ``reachable`` False when the cluster did not answer."""

    reachable: bool
    exists: bool = False
    status: str = ""
    versions: tuple[str, ...] = ()
    error: str = ""


def detect_drift(lock: Lock, observed: dict[str, Observed]) -> tuple[dict[str, str], list[str]]:
    """Pure: (deploy node -> why it drifted, notes about deployments that could not be checked)."""
    drifted: dict[str, str] = {}
    notes: list[str] = []
    for nid, entry in sorted(lock.nodes.items()):
        if entry.step != "deploy":
            continue
        serve = entry.outputs.get("serve") or {}
        app, version = serve.get("app"), serve.get("version")
        seen = observed.get(nid)
        if not app or seen is None:
            continue
        if not seen.reachable:
            notes.append(f"could not check {entry.resource} for drift: {seen.error}")
        elif not seen.exists:
            drifted[nid] = f"drift: Serve application {app} is not running"
        elif version not in seen.versions:
            others = ", ".join(seen.versions) or "no model version"
            drifted[nid] = f"drift: {app} serves {others}, the lock says {version}"
        elif seen.status not in ("RUNNING", "DEPLOYING"):
            drifted[nid] = f"drift: {app} is {seen.status}"
    return drifted, notes


def deploy_targets(lock: Lock) -> dict[str, dict[str, Any]]:
    """Deploy nodes and what they serve: {node: {app, version}}.

    Only names: where to ask is the cluster llmops knows, never a URL in the lock (an older
    lock's ``dashboard_url`` is still read, and ignored).
    """
    return {nid: {"app": e.outputs["serve"].get("app"), "version": e.outputs["serve"].get("version")}
            for nid, e in lock.nodes.items() if e.step == "deploy" and isinstance(e.outputs.get("serve"), dict)}
