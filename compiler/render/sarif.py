"""A policy report as SARIF 2.1.0, the format GitHub code scanning reads to annotate a pull request.

Each policy is a rule (its name is the rule id); each finding a result located at the
offending file, line and column, relative to the repository root (``%SRCROOT%``), with a
fingerprint of policy and resource so an alert survives the lines moving. A waived
finding is a result with an accepted external suppression carrying the waiver's reason,
owner and expiry; an expired waiver is a warning notification of the run.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from compiler.diagnostics import Diagnostic, Severity
from compiler.policy.report import Finding, PolicyReport
from compiler.policy.rules import Rule
from compiler.render.escape import MAX_MESSAGE, clip, md, md_code

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
TOOL = "llmops"
SRCROOT = "%SRCROOT%"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def _uri(file: str, prefix: str) -> str:
    """A path relative to the repository root, with forward slashes, as SARIF consumers resolve it."""
    return posixpath.normpath(posixpath.join(prefix, file)) if prefix else posixpath.normpath(file)


def _location(file: str, line: int, col: int, prefix: str) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file, prefix), "uriBaseId": SRCROOT}}
    if line:
        physical["region"] = {"startLine": line, "startColumn": max(col, 1)}
    return {"physicalLocation": physical}


def _rule(rule: Rule) -> dict[str, Any]:
    where = f"defined in {rule.source.file}" if rule.source is not None else "built into llmops"
    waive = (f"To accept a finding, add a Waiver with policy: Policy/{rule.id}, the resources, a reason, "
             "an owner and an expiry date.")
    text = "\n\n".join(part for part in (rule.summary or rule.message, rule.hint,
                                          f"Policy {rule.id} ({where}, code {rule.code}). {waive}") if part)
    # a user Policy's message, hint and rule are spec strings: escaped, so they render as text, never as markup
    markdown = (f"**{md(rule.message)}**\n\n{md(rule.summary or '')}\n\n" + (f"Fix: {md(rule.hint)}\n\n" if rule.hint else "")
                + f"Policy {md_code(rule.id, in_table=False)} ({md(where)}, code `{rule.code}`). {waive}\n\n"
                f"Rule (CEL): {md_code(rule.expression, MAX_MESSAGE, in_table=False)}")
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.message},
        "fullDescription": {"text": rule.summary or rule.message},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"code": rule.code, "builtin": rule.builtin, "tags": ["llmops", "policy"]},
    }


def _fingerprint(finding: Finding) -> str:
    return hashlib.sha256(f"{finding.policy}\0{finding.resource}".encode()).hexdigest()[:32]


def _result(finding: Finding, index: int, report: PolicyReport, prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.policy,
        "level": _LEVEL[finding.severity],
        "message": {"text": clip(finding.message, MAX_MESSAGE) + (f"\nhint: {clip(finding.hint, MAX_MESSAGE)}" if finding.hint else "")},
        "locations": [_location(finding.file, finding.line, finding.col, prefix)],
        "partialFingerprints": {"llmopsPolicyResource/v1": _fingerprint(finding)},
        "properties": {"resource": str(finding.resource), "code": finding.code},
    }
    if index >= 0:
        result["ruleIndex"] = index
    waiver = report.waiver(finding.waived_by) if finding.waived_by else None
    if waiver is not None:
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"waiver {waiver.name}: {waiver.reason} (owner {waiver.owner}, until {waiver.expires})",
            "location": _location(waiver.source.file, waiver.source.line, 1, prefix),
        }]
    return result


def _notification(diagnostic: Diagnostic, prefix: str) -> dict[str, Any]:
    return {"level": _LEVEL[diagnostic.severity], "message": {"text": f"{diagnostic.message}\nhint: {diagnostic.hint}"},
            "locations": [_location(diagnostic.file, diagnostic.line, diagnostic.col, prefix)],
            "descriptor": {"id": diagnostic.code}}


def render_sarif(report: PolicyReport, prefix: str = "", version: str = "0") -> str:
    """The SARIF log; ``prefix`` is the spec folder's path from the repository root (e.g. ``specs``)."""
    rules = list(report.rules)
    index = {rule.id: i for i, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL, "version": version, "semanticVersion": version,
                            "rules": [_rule(rule) for rule in rules]}},
        "invocations": [{"executionSuccessful": True,
                         "toolExecutionNotifications": [_notification(d, prefix) for d in report.expired_diagnostics()]}],
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index.get(f.policy, -1), report, prefix) for f in report.findings],
        "properties": {"counts": report.to_dict()["counts"]},
    }
    log = {"$schema": SCHEMA, "version": VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
