"""The compiler's front door: load, check, build the graph, and plan.

The loader, the checks and the graph builder are imported when a compilation runs, not
with this module: a plan served from ``compiler.plan_cache`` uses ``plan_against_lock``
and must not pay for pydantic, the spec models, jinja2 or ruamel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostic, has_errors
from compiler.fingerprint import Fingerprint
from compiler.lockfile import Lock
from compiler.plan import GraphView, Plan, plan_changes

if TYPE_CHECKING:
    from compiler.graph import Graph
    from compiler.project import Project

Drift = Callable[[Lock], dict[str, str]]


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
    from compiler.checks import check_project
    from compiler.graph import build_graph
    from compiler.project import load_project

    project = load_project(path, use_cache=use_cache)
    diagnostics = list(project.diagnostics)
    diagnostics.extend(check_project(project))
    graph, problems = build_graph(project)
    diagnostics.extend(problems)
    return Compilation(project, graph, sorted(set(diagnostics)))


def plan_project(compilation: Compilation, lock: Lock | None = None,
                 drift: Drift | None = None) -> tuple[Plan | None, list[Diagnostic]]:
    """The plan for a compiled project against its lock; None when there are errors.

    ``drift`` looks at what runs (deploy node -> what is wrong); see ``compiler.drift``.
    """
    from compiler.fingerprint import fingerprint_graph

    if not compilation.ok:
        return None, compilation.diagnostics
    project = compilation.project
    prints = fingerprint_graph(project, compilation.graph)
    return plan_against_lock(project.root, compilation.graph, prints, project.specs_digest, compilation.diagnostics,
                             lock, drift)


def plan_against_lock(root: Path, graph: GraphView, prints: dict[str, Fingerprint], specs_digest: str,
                      diagnostics: list[Diagnostic], lock: Lock | None = None,
                      drift: Drift | None = None) -> tuple[Plan | None, list[Diagnostic]]:
    """Fingerprinted nodes (compiled now, or cached) against the lock, read from ``root`` unless given."""
    if lock is None:
        from compiler.state_trust import read_trusted_lock

        lock, problems = read_trusted_lock(root)  # shape, then every entry vouched for by the apply log
        if problems:
            return None, [*diagnostics, *problems]
    return plan_changes(graph, prints, lock, specs_digest, drift(lock) if drift else None), diagnostics
