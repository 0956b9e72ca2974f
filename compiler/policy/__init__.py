"""Policy as code: CEL rules over each resource and its lineage, a built-in pack, and audited waivers.

``check_policies(compilation)`` is the one entry point: plan shows its report, apply
refuses while ``report.errors`` is not empty, and ``llmops policy check`` renders it
for people and for CI (text, JSON, SARIF, GitHub annotations). The public names load
on first use (PEP 562), so rendering a cached verdict imports no spec model.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {"check_policies": "compiler.policy.check", "Finding": "compiler.policy.report",
           "PolicyReport": "compiler.policy.report"}
__all__ = ["Finding", "PolicyReport", "check_policies"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'compiler.policy' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
