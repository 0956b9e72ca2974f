"""The compiler: specs on disk to resources, a checked graph, fingerprints and a plan.

Pure apart from reading files and writing its own caches; it never imports ray,
torch, transformers, peft or dvc, so ``validate`` and ``plan`` start fast. The public
names load on first use (PEP 562), so a light module such as ``compiler.audit.chain``
does not pay for pydantic and the spec models.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "Compilation": "compiler.compile", "compile_project": "compiler.compile", "plan_project": "compiler.compile",
    "Diagnostic": "compiler.diagnostics", "Severity": "compiler.diagnostics", "Plan": "compiler.plan",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'compiler' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
