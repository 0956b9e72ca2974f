"""Policy as code: CEL rules over each resource and its lineage, a built-in pack, and audited waivers.

``check_policies(compilation)`` is the one entry point: plan shows its report, apply
refuses while ``report.errors`` is not empty, and ``llmops policy check`` renders it
for people and for CI (text, JSON, SARIF, GitHub annotations).
"""

from compiler.policy.check import check_policies
from compiler.policy.report import Finding, PolicyReport

__all__ = ["Finding", "PolicyReport", "check_policies"]
