"""Waivers: owned, reasoned, expiring exceptions to a policy for named resources.

A waiver counts through its ``expires`` day (UTC) and not after: an expired waiver waives
nothing and is reported, so exceptions are renewed deliberately or fixed, never forgotten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from compiler.diagnostics import Diagnostic, warning
from compiler.project import Project
from compiler.resources import Resource
from llmops_spec import Ref
from llmops_spec.policy import real_owner

EXPIRED_CODE = "P200"


@dataclass(frozen=True, slots=True)
class Waiver:
    name: str
    policy: str
    resources: frozenset[Ref]
    reason: str
    owner: str
    expires: dt.date
    source: Resource

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "policy": self.policy, "resources": sorted(str(r) for r in self.resources),
                "reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat(),
                "file": self.source.file, "line": self.source.line}


def load_waivers(project: Project) -> list[Waiver]:
    """The project's valid Waiver resources: each with a real owner (validate refuses the others, E104)."""
    return [Waiver(r.name, r.spec.policy.name, frozenset(ref.resource for ref in r.spec.resources), r.spec.reason,
                   r.spec.owner, r.spec.expires, r)
            for r in project.of_kind("Waiver") if r.spec is not None and real_owner(r.spec.owner)]


def expired_diagnostic(waiver: Waiver) -> Diagnostic:
    line, col = waiver.source.locate(("spec", "expires"))
    names = ", ".join(sorted(str(r) for r in waiver.resources))
    return warning(waiver.source.file, line, col, EXPIRED_CODE,
                   f"waiver {waiver.name} expired on {waiver.expires.isoformat()}: {waiver.policy} applies again to {names}",
                   "fix what it covered, or renew it with a new expires date after a fresh review by its owner")


class WaiverIndex:
    """Active waivers by (policy, resource), and the expired ones that would have matched."""

    def __init__(self, waivers: list[Waiver], today: dt.date) -> None:
        self.active: dict[tuple[str, Ref], Waiver] = {}
        self.lapsed: dict[tuple[str, Ref], Waiver] = {}
        for waiver in sorted(waivers, key=lambda w: (w.expires, w.name)):  # the latest expiry wins a tie
            target = self.lapsed if waiver.expired(today) else self.active
            for ref in waiver.resources:
                target[(waiver.policy, ref)] = waiver
        self.expired = [w for w in waivers if w.expired(today)]

    def waiver_for(self, policy: str, ref: Ref) -> Waiver | None:
        return self.active.get((policy, ref))

    def lapsed_for(self, policy: str, ref: Ref) -> Waiver | None:
        return self.lapsed.get((policy, ref))
