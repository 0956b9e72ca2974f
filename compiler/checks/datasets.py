"""Dataset sources exist inside the repository, and splits add up."""

from __future__ import annotations

from pathlib import Path

from compiler.diagnostics import Diagnostic
from compiler.paths import resolve_inside, unreadable_data
from compiler.project import Project
from compiler.suggest import did_you_mean


def _missing_hint(root: Path, written: str, target: Path) -> str:
    folder = target.parent
    if folder.is_dir():
        siblings = [p.name.removesuffix(".dvc") for p in folder.iterdir() if not p.name.startswith(".")]
        match = did_you_mean(target.name, siblings)
        if match:
            prefix = written.rsplit("/", 1)[0] + "/" if "/" in written else ""
            return match.replace("did you mean ", f"did you mean {prefix}")
    return f"add the file, or `dvc pull` it if it is DVC-tracked; paths are relative to {root.name}/"


def check_datasets(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for resource in project.of_kind("Dataset"):
        spec = resource.spec
        if spec is None:
            continue
        if spec.source.path is not None:
            where = ("spec", "source", "path")
            target = resolve_inside(project.root, spec.source.path)
            if target is None:
                found.append(resource.error(where, "E221", f"source path {spec.source.path!r} is outside the repository",
                                            "keep data inside the repository (DVC-track large files) and use a relative path"))
            elif not target.exists() and not Path(str(target) + ".dvc").exists():
                found.append(resource.error(where, "E220", f"source path {spec.source.path!r} does not exist",
                                            _missing_hint(project.root, spec.source.path, target)))
            else:
                refused = unreadable_data(project.root, target)
                if refused is not None:
                    found.append(resource.error(where, refused.code, f"source path {spec.source.path!r}: {refused.reason}",
                                                "data is read only from regular files inside the repository: "
                                                "replace the link or special file with the file itself"))
        if spec.splits is not None:
            total = sum(spec.splits.fractions.values())
            if total > 1 + 1e-9:
                parts = " + ".join(f"{v:g}" for v in spec.splits.fractions.values())
                found.append(resource.error(("spec", "splits"), "E222", f"split fractions sum to {total:g} ({parts}), above 1",
                                            "make the fractions add up to at most 1"))
    return found
