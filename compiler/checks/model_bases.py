"""A Model's base is a declared, pinned source of weights, never code (compiler/model_sources.py).

``package`` must be an installed distribution (found by its metadata, nothing imported);
``path`` must be a folder of the repository without code. A path that does not exist yet is
left to apply (it may be DVC-tracked and pulled there).

A distribution that is not installed where validate runs is a warning (W240): a pull request's
job often installs llmops without the run extra, and the runners check again where they load,
refusing it there. It is an error when the repository holds a module of that name (payload.py,
payload/, a fake dist-info): that is the shape of an attempt to have the repository's code
imported as a model package, which llmops never does.
"""

from __future__ import annotations

from compiler.diagnostics import Diagnostic, warning
from compiler.model_sources import NotInstalled, SourceRefused, model_folder, package_model, shadowed_in
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
        except NotInstalled as absent:
            where = ("spec", "base", "package")
            shadow = shadowed_in(project.root, base.package)
            if shadow is None:
                line, col = resource.locate(where, "value")
                found.append(warning(resource.file, line, col, "W240", f"{absent.message}, so its model cannot be "
                                     "checked here", f"apply refuses it unless it is installed; {absent.hint}"))
            else:
                found.append(resource.error(where, absent.code, f"{absent.message}; {shadow} in the repository is "
                                            "never imported, nor taken for an installed one", absent.hint))
        except SourceRefused as refused:
            where = ("spec", "base", "package" if base.package else "path")
            found.append(resource.error(where, refused.code, refused.message, refused.hint))
    return found
