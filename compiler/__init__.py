"""The compiler: specs on disk to resources, a checked graph, fingerprints and a plan.

Pure apart from reading files and writing its own caches; it never imports ray,
torch, transformers, peft or dvc, so ``validate`` and ``plan`` start fast.
"""

from compiler.compile import Compilation, compile_project, plan_project
from compiler.diagnostics import Diagnostic, Severity
from compiler.plan import Plan

__all__ = ["Compilation", "Diagnostic", "Plan", "Severity", "compile_project", "plan_project"]
