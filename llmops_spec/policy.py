"""Policy and Waiver: the team's rules, and their audited exceptions."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from llmops_spec.base import Labels, Name, NonEmptyStr, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to

ResourceKind = Literal["Dataset", "Prompt", "Model", "EvalGate", "Deployment"]


class Match(Strict):
    kinds: list[ResourceKind] = Field(default_factory=list, description="Empty: every kind.")
    labels: Labels = Field(default_factory=dict, description="All must be present with these values.")
    names: list[Name] = Field(default_factory=list, description="Empty: every name.")


class PolicySpec(SpecBase):
    severity: Literal["error", "warning"] = "error"
    match: Match = Field(default_factory=Match)
    rule: NonEmptyStr = Field(description="A CEL expression over `resource` and the lineage graph; true means compliant.")
    message: NonEmptyStr
    hint: str | None = None



class WaiverSpec(SpecBase):
    policy: ref_to("Policy")
    resources: list[ref_to("Dataset", "Prompt", "Model", "EvalGate", "Deployment")] = Field(min_length=1)
    reason: NonEmptyStr
    owner: NonEmptyStr
    expires: dt.date = Field(strict=False, description="ISO date (YYYY-MM-DD); the waiver stops counting after this day.")

    def references(self) -> list[tuple[RefPath, Ref]]:
        return [(("policy",), self.policy), *((("resources", i), ref) for i, ref in enumerate(self.resources))]

    def upstream(self) -> list[Ref]:
        return []  # a waiver is read by policy checks, it does no work
