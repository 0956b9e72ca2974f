"""Finding the spec files of a project.

The walk never follows a symlinked folder (``os.walk``'s default), so it stays in the tree it
was given. A symlinked or special *file* is listed like any other spec file: reading it is
where it is judged (compiler/safe_read.py: a link out of the repository, a FIFO or a device is
a located diagnostic, and no byte of it is read).
"""

from __future__ import annotations

import os
from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages", "dist", "build"})
SKIP_FILES = frozenset({"dvc.yaml", "dvc.lock", ".pre-commit-config.yaml", "mkdocs.yml", "mkdocs.yaml"})
LOCK_NAME = "llmops.lock"


def find_spec_files(root: Path) -> list[Path]:
    """Every .yaml/.yml file under ``root``, sorted, skipping hidden and tool folders."""
    return [Path(p) for p in find_spec_paths(root)]


def find_spec_paths(root: Path) -> list[str]:
    """``find_spec_files`` as strings: a cached plan walks 10,000 specs without building a Path for each."""
    if root.is_file():
        return [str(root)]
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS]
        found.extend(os.path.join(dirpath, name) for name in filenames
                     if name.endswith(SPEC_SUFFIXES) and name not in SKIP_FILES and not name.startswith("."))
    found.sort(key=lambda p: p.split(os.sep))  # folder by folder, as a tree reads
    return found


def project_root(path: Path) -> Path:
    """The folder spec paths are relative to: the path itself, or a file's folder."""
    path = path.resolve()
    return path.parent if path.is_file() else path
