"""The compiler's front door: load, check, build the graph, and plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compiler.checks import check_project
from compiler.diagnostics import Diagnostic, has_errors
from compiler.fingerprint import fingerprint_graph
from compiler.graph import Graph, build_graph
from compiler.lockfile import Lock, read_lock
from compiler.plan import Plan, plan_changes
from compiler.project import Project, load_project


@dataclass
class Compilation:
    project: Project
    graph: Graph
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def compile_project(path: Path, use_cache: bool = True) -> Compilation:
    """Load and check every spec under ``path``; diagnostics come back sorted by file and line."""
    project = load_project(path, use_cache=use_cache)
    diagnostics = list(project.diagnostics)
    diagnostics.extend(check_project(project))
    graph, problems = build_graph(project)
    diagnostics.extend(problems)
    return Compilation(project, graph, sorted(set(diagnostics)))


def plan_project(compilation: Compilation, lock: Lock | None = None,
                 drift: Callable[[Lock], dict[str, str]] | None = None) -> tuple[Plan | None, list[Diagnostic]]:
    """The plan for a compiled project against its lock; None when there are errors.

    ``drift`` looks at what runs (deploy node -> what is wrong); see ``compiler.drift``.
    """
    if not compilation.ok:
        return None, compilation.diagnostics
    problems: list[Diagnostic] = []
    if lock is None:
        lock, problems = read_lock(compilation.project.root)
        if problems:
            return None, [*compilation.diagnostics, *problems]
    prints = fingerprint_graph(compilation.project, compilation.graph)
    plan = plan_changes(compilation.graph, prints, lock, compilation.project.specs_digest, drift(lock) if drift else None)
    return plan, compilation.diagnostics
