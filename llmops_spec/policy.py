"""Policy and Waiver: the team's rules, and their audited exceptions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from llmops_spec.base import Labels, Name, NonEmptyStr, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to

ResourceKind = Literal["Dataset", "Prompt", "Model", "EvalGate", "Deployment"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_HANDLE = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?")


def real_owner(owner: str) -> bool:
    """Someone who can be asked: an email address, or a handle (``@user``, ``@org/team``), nothing around it."""
    return bool(_EMAIL.fullmatch(owner) or _HANDLE.fullmatch(owner))


def _owner(value: str) -> str:
    if not real_owner(value):
        raise PydanticCustomError(
            "llmops_owner", "owner {value} is not an email address or a @handle",
            {"value": repr(value), "hint": "name who answers for the exception: security-lead@example.com or @org/team"})
    return value


Owner = Annotated[str, AfterValidator(_owner), Field(
    description="Who answers for the exception: an email address (lead@example.com) or a handle (@org/team).",
    json_schema_extra={"pattern": f"^({_EMAIL.pattern}|{_HANDLE.pattern})$"})]


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
    resources: list[ref_to("Dataset", "Prompt", "Model", "EvalGate", "Deployment", "Policy")] = Field(
        min_length=1, description="What it waives; a Policy for builtin-replaced (a Policy that replaces a built-in rule).")
    reason: NonEmptyStr
    owner: Owner
    expires: dt.date = Field(strict=False, description="ISO date (YYYY-MM-DD); the waiver stops counting after this day.")

    def references(self) -> list[tuple[RefPath, Ref]]:
        return [(("policy",), self.policy), *((("resources", i), ref) for i, ref in enumerate(self.resources))]

    def upstream(self) -> list[Ref]:
        return []  # a waiver is read by policy checks, it does no work
