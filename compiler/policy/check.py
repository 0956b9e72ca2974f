"""Evaluating every policy on every resource it matches, then applying the waivers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from compiler.checks.cel_rules import located_cel_error
from compiler.compile import Compilation
from compiler.policy.builtin import BUILTIN, REPLACED
from compiler.policy.cached import utc_today
from compiler.policy.context import VARIABLES, RuleContext
from compiler.policy.engine import CompileError, activation, compile_rule, evaluate
from compiler.policy.lineage import RESOURCE_KINDS, build_lineage
from compiler.policy.replaced import replacement_findings
from compiler.policy.report import Finding, PolicyReport
from compiler.policy.rules import Rule, Where, effective_rules
from compiler.policy.secrets import find_secrets
from compiler.policy.waivers import WaiverIndex, load_waivers
from compiler.resources import Resource
from compiler.yaml_source import PathKey

COMPILE_CODE = "P101"
RUNTIME_CODE = "P102"
GUARD_HINT = "guard optional fields with has(), e.g. has(resource.spec.prompt) && ..., and keys with \"key\" in map"


def _uncompilable(rule: Rule, error: CompileError) -> Finding:
    """A rule the engine rejects, located in its Policy's rule text (built-in rules always compile: tests say so)."""
    assert rule.source is not None, f"built-in rule {rule.id} does not compile: {error.message}"
    where = located_cel_error(rule.source, ("spec", "rule"), error.raw, GUARD_HINT)
    return Finding(rule.id, COMPILE_CODE, rule.severity, rule.source.ref,
                   f"the rule of policy {rule.id} does not compile: {error.message}",
                   where.file, where.line, where.col,
                   f"a rule is CEL over the variables {', '.join(VARIABLES)} (docs/policy.md)")


def _point(resource: Resource, path: PathKey) -> tuple[int, int]:
    """The field at ``path``; when it is not written, the key of its nearest written parent, where it would go."""
    data: Any = resource.doc.data
    for depth, part in enumerate(path):
        present = (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data))
        if not present:
            return resource.locate(path[:depth], at="key") if depth else resource.locate(("metadata", "name"))
        data = data[part]
    return resource.locate(path)


def _position(resource: Resource, where: Where) -> tuple[int, int]:
    if not where.line_offset:
        return _point(resource, where.path)
    (line, col), style = resource.doc.text_start(where.path)
    return (line + where.line_offset, col) if style in ("|", ">") else (line + where.line_offset, 1)


def _finding(rule: Rule, resource: Resource, variables: dict[str, Any], outcome: bool | str) -> Finding:
    if outcome is False:
        where = rule.where(resource, variables)
        detail = f" ({where.detail})" if where.detail else ""
        line, col = _position(resource, where)
        return Finding(rule.id, rule.code, rule.severity, resource.ref,
                       f"{resource.ref} violates {rule.id}: {rule.message}{detail}", resource.file, line, col, rule.hint)
    line, col = _point(resource, rule.where(resource, variables).path)
    at = ""
    if rule.source is not None:
        rule_line, _ = rule.source.locate(("spec", "rule"))
        at = f"the rule is at {rule.source.file}:{rule_line}; "
    return Finding(rule.id, RUNTIME_CODE, rule.severity, resource.ref,
                   f"policy {rule.id} could not be evaluated on {resource.ref}: {outcome}",
                   resource.file, line, col, at + GUARD_HINT)


def _waive(finding: Finding, index: WaiverIndex) -> Finding:
    waiver = index.waiver_for(finding.policy, finding.resource)
    if waiver is not None:
        return Finding(**{**_fields(finding), "waived_by": waiver.name})
    lapsed = index.lapsed_for(finding.policy, finding.resource)
    if lapsed is not None:
        note = f"waiver {lapsed.name} expired on {lapsed.expires.isoformat()}"
        return Finding(**{**_fields(finding), "hint": f"{finding.hint}; {note}" if finding.hint else note})
    return finding


def _fields(finding: Finding) -> dict[str, Any]:
    return {name: getattr(finding, name) for name in Finding.__slots__}


def check_policies(compilation: Compilation, today: dt.date | None = None) -> PolicyReport:
    """Every effective rule (the built-in pack, with user Policies replacing rules of the same name) on every
    valid resource it matches; waivers valid on ``today`` (default: today, UTC) waive the findings they name.
    Each replacement of a built-in rule is a finding of ``builtin-replaced`` on its Policy (replaced.py).

    Never raises for a problem in the specs: a rule that does not compile, or fails on a resource, is a
    located finding of its policy's severity.
    """
    project = compilation.project
    today = today or utc_today()
    rules, overridden = effective_rules(project, BUILTIN)
    findings: list[Finding] = replacement_findings(BUILTIN, [rule for rule in rules if not rule.builtin])
    shown = [*rules, REPLACED] if findings else rules  # the rule of those findings, for SARIF's descriptors
    compiled: list[tuple[Rule, Any]] = []
    for rule in rules:
        program = compile_rule(rule.expression)
        if isinstance(program, CompileError):
            findings.append(_uncompilable(rule, program))
        else:
            compiled.append((rule, program))
    lineage = build_lineage(project)
    secrets = find_secrets(project) if any("secrets" in rule.variables for rule, _ in compiled) else {}
    context = RuleContext(project, lineage, secrets)
    by_kind = {kind: [(r, p) for r, p in compiled if not r.kinds or kind in r.kinds] for kind in RESOURCE_KINDS}
    reads: dict[tuple[int, ...], frozenset[str]] = {}  # what each combination of matching rules reads
    for ref, labels in lineage.labels.items():
        matching = [(r, p) for r, p in by_kind[ref.kind] if r.applies_to(ref.kind, ref.name, labels)]
        if not matching:
            continue
        key = tuple(id(rule) for rule, _ in matching)
        names = reads.get(key)
        if names is None:
            names = reads[key] = frozenset().union(*(rule.variables for rule, _ in matching))
        variables = context.variables(ref, names)
        bound = activation(variables)
        for rule, program in matching:
            outcome = evaluate(program, bound)
            if outcome is not True:
                findings.append(_finding(rule, project.resources[ref], variables, outcome))
    waivers = load_waivers(project)
    index = WaiverIndex(waivers, today)
    findings = sorted((_waive(f, index) for f in findings),
                      key=lambda f: (f.file, f.line, f.col, f.policy, str(f.resource)))
    return PolicyReport(tuple(findings), tuple(shown), tuple(waivers), tuple(index.expired), tuple(overridden),
                        len(lineage.labels), today)

