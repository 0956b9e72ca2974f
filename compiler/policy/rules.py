"""A policy rule as the checker runs it: built in, or read from a Policy resource of the project.

A user Policy with the name of a built-in rule replaces it: that is how a team tightens,
softens (``severity: warning``) or turns off (``rule: "true"``) a built-in rule, in git,
reviewed like any other spec, and never silently: each replacement is a finding of
``builtin-replaced`` (replaced.py), which for an error rule needs a Waiver of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from compiler.diagnostics import Severity
from compiler.policy.context import ENTRY_SPECS, ENVELOPE, VARIABLES
from compiler.policy.matching import normalize_labels
from compiler.project import Project
from compiler.resources import Resource
from compiler.yaml_source import PathKey

USER_CODE = "P100"
"""The diagnostic code of every finding of a user-defined Policy (built-in rules have their own)."""

_FIELD = re.compile(r"\bresource((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_NAMES = {name: re.compile(rf"\b{name}\b") for name in VARIABLES}
_RESOURCE_USE = re.compile(r"\bresource\b(?:\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?)?")
_ENVELOPE_FIELDS = ("metadata", "kind", "apiVersion")
_OTHER_SPEC = re.compile(r"(?<!\bresource)\s*\.\s*spec\b")


def variables_read(expression: str) -> frozenset[str]:
    """What a rule reads, so that only that is converted for the engine (most of a check's cost).

    Variable names, and for ``resource`` as little as the rule's field paths allow:
    ``resource:envelope`` (apiVersion, kind, metadata) plus ``resource.spec.<field>`` for each
    spec field read, or ``resource`` whole when the rule reads it any other way. A name
    inside a string literal counts too: harmless, it only costs time.
    """
    names = {name for name, pattern in _NAMES.items() if pattern.search(expression)}
    if "resource" in names:
        parts: set[str] = {ENVELOPE}
        for use in _RESOURCE_USE.finditer(expression):
            if use[1] == "spec" and use[2]:
                parts.add(f"resource.spec.{use[2]}")
            elif use[1] not in _ENVELOPE_FIELDS:
                parts = {"resource"}
                break
        names = (names - {"resource"}) | parts
    if names & {"inputs", "upstream", "downstream"} and _OTHER_SPEC.search(expression):
        names.add(ENTRY_SPECS)
    return frozenset(names)


class Where(NamedTuple):
    """Where a finding points: a field of the resource, and optionally a detail for the message."""

    path: PathKey
    detail: str | None = None
    line_offset: int = 0  # a line inside a multi-line value


Explain = Callable[[Resource, Mapping[str, Any]], Where]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    code: str
    severity: Severity
    expression: str
    message: str
    hint: str | None = None
    kinds: frozenset[str] = frozenset()  # empty: every kind
    labels: tuple[tuple[str, str], ...] = ()  # all must hold in the resource's effective labels
    names: frozenset[str] = frozenset()  # empty: every name
    summary: str = ""  # why the rule exists, for SARIF's rule help and the docs
    source: Resource | None = None  # the Policy resource; None for a built-in rule
    explain: Explain | None = None
    variables: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", variables_read(self.expression))

    @property
    def builtin(self) -> bool:
        return self.source is None

    def applies_to(self, kind: str, name: str, labels: Mapping[str, str]) -> bool:
        return ((not self.kinds or kind in self.kinds) and (not self.names or name in self.names)
                and all(labels.get(key) == value for key, value in self.labels))

    def where(self, resource: Resource, variables: Mapping[str, Any]) -> Where:
        """The field a violation points at: the built-in rule says; a user rule, the first field it reads."""
        if self.explain is not None:
            return self.explain(resource, variables)
        match = _FIELD.search(self.expression)
        return Where(tuple(match[1].split(".")[1:]) if match else ("metadata", "name"))


def user_rules(project: Project) -> list[Rule]:
    """The project's valid Policy resources as rules."""
    rules: list[Rule] = []
    for resource in project.of_kind("Policy"):
        spec = resource.spec
        if spec is None:
            continue
        rules.append(Rule(
            id=resource.name, code=USER_CODE, severity=Severity(spec.severity), expression=spec.rule,
            message=spec.message, hint=spec.hint, kinds=frozenset(spec.match.kinds),
            labels=tuple(sorted(normalize_labels(spec.match.labels).items())), names=frozenset(spec.match.names),
            summary=resource.model.metadata.description or spec.message, source=resource))
    return rules


def effective_rules(project: Project, builtin: list[Rule]) -> tuple[list[Rule], list[str]]:
    """The built-in rules not replaced by a user Policy of the same name, then the user's; and the replaced names."""
    mine = user_rules(project)
    taken = {rule.id for rule in mine}
    kept = [rule for rule in builtin if rule.id not in taken]
    return kept + mine, sorted(rule.id for rule in builtin if rule.id in taken)
