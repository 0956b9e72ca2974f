"""A Model's base is a declared, pinned source of weights, never code (compiler/model_sources.py).

``package`` must be an installed distribution (found by its metadata, nothing imported);
``path`` must be a folder of the repository without code. A path that does not exist yet is
left to apply (it may be DVC-tracked and pulled there).
"""

from __future__ import annotations

from compiler.diagnostics import Diagnostic
from compiler.model_sources import SourceRefused, model_folder, package_model
from compiler.project import Project


def check_model_bases(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for resource in project.of_kind("Model"):
        base = resource.spec.base if resource.spec is not None else None
        if base is None:
            continue
        try:
            if base.package:
                package_model(base.package, project.root)
            elif base.path:
                model_folder(project.root, base.path)
        except SourceRefused as refused:
            where = ("spec", "base", "package" if base.package else "path")
            found.append(resource.error(where, refused.code, refused.message, refused.hint))
    return found
