"""A user Policy named like a built-in rule replaces it, visibly: a finding of ``builtin-replaced`` in every run.

A team may tighten, soften or switch off a rule of the pack by writing a Policy of its
name, but never silently: each replacement is a finding on the Policy, shown by text,
JSON, SARIF and the PR comment alike. Replacing an error rule is an error finding, so
``policy check`` and ``apply`` fail until a Waiver (``policy: Policy/builtin-replaced``,
``resources: [Policy/<name>]``) says who answers for it and until when. A Policy named
``builtin-replaced`` counts as replacing an error rule too: the rule that reports
replacements is not replaced.
"""

from __future__ import annotations

from compiler.diagnostics import Severity
from compiler.policy.builtin import REPLACED
from compiler.policy.report import Finding
from compiler.policy.rules import Rule


def replacement_findings(builtin: list[Rule], user: list[Rule]) -> list[Finding]:
    """One finding per user rule that takes the name of a built-in one (or of ``builtin-replaced``)."""
    pack = {rule.id: rule for rule in (*builtin, REPLACED)}
    found: list[Finding] = []
    for rule in user:
        replaced = pack.get(rule.id)
        if replaced is None or rule.source is None:
            continue
        source = rule.source
        line, col = source.locate(("metadata", "name"))
        severity = Severity.ERROR if replaced.severity is Severity.ERROR else Severity.WARNING
        needs = ", an error rule: it needs a Waiver of its own" if severity is Severity.ERROR else ""
        found.append(Finding(
            REPLACED.id, REPLACED.code, severity, source.ref,
            f"{source.ref} replaces the built-in rule {replaced.id}{needs} (built in: {replaced.message})",
            source.file, line, col, REPLACED.hint.replace("<its name>", rule.id)))
    return found
