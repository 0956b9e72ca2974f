"""Whether a saved plan may still be applied (Terraform's contract: apply exactly the plan, or refuse).

A plan is fresh when the specs are byte-for-byte those it was made from, the lock is the
one it was made against, and every node's fingerprint, recomputed now, is the one the plan
shows: a data file edited after ``plan`` changes no spec byte, only fingerprints, and a
plan applied over it would judge a gate on data nobody reviewed. One exception keeps interrupted applies resumable: a lock
that moved only because an earlier run of this very plan recorded some of its nodes (each
now at the planned fingerprint, everything else untouched) is a resume, not a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.lockfile import Lock
from compiler.plan import PLAN_FORMAT_VERSION


@dataclass(frozen=True)
class Freshness:
    fresh: bool
    done: frozenset[str] = frozenset()   # nodes of the plan a previous run already applied
    reason: str = ""
    hint: str = ""


def _stale(reason: str) -> Freshness:
    return Freshness(False, reason=reason, hint="make a new plan (llmops plan -o plan.json) and review it")


def moved_inputs(saved: dict[str, Any], prints: dict[str, str]) -> list[str]:
    """Pure: the plan's nodes (deletes aside) whose fingerprint, recomputed now, is not the one planned."""
    return [c["node"] for c in saved.get("changes", [])
            if c.get("action") != "delete" and prints.get(c["node"]) != c.get("fingerprint")]


def check_fresh(saved: dict[str, Any], specs_digest: str, lock: Lock, prints: dict[str, str] | None = None) -> Freshness:
    """Pure: may ``saved`` (a plan's JSON) be applied to these specs, this lock and, when given, these fingerprints?"""
    if saved.get("format_version") != PLAN_FORMAT_VERSION:
        return _stale(f"the plan's format_version {saved.get('format_version')} is not {PLAN_FORMAT_VERSION}")
    if saved.get("specs_digest") != specs_digest:
        return _stale("the specs changed since the plan was made")
    moved = moved_inputs(saved, prints) if prints is not None else []
    if moved:
        more = f" (and {len(moved) - 1} more)" if len(moved) > 1 else ""
        return Freshness(False, reason=f"the inputs or data of {moved[0]}{more} changed since the plan was made: "
                                       "its fingerprint is not the planned one",
                         hint="plan again (llmops plan -o plan.json), review the new plan, and apply that")
    if saved.get("lock_digest") == lock.digest:
        return Freshness(True)
    done: set[str] = set()
    planned = {c["node"]: c for c in saved.get("changes", [])}
    for nid in planned.keys() | lock.nodes.keys():
        change = planned.get(nid)
        entry = lock.nodes.get(nid)
        if change is None:
            return _stale(f"llmops.lock changed since the plan was made ({nid} is new in it)")
        before = change.get("previous_fingerprint")
        now = entry.fingerprint if entry else None
        if now == before:
            continue
        if change["action"] == "delete" and now is None:
            done.add(nid)
        elif change["action"] in ("create", "update") and now == change.get("fingerprint"):
            done.add(nid)
        else:
            return _stale(f"llmops.lock changed since the plan was made ({nid})")
    return Freshness(True, frozenset(done), reason=f"resuming: {len(done)} nodes of this plan were already applied")
