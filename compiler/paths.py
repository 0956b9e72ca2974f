"""Paths written in specs are relative to the project root and must stay inside it."""

from __future__ import annotations

from pathlib import Path


import os
from functools import lru_cache


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``relative`` under ``root`` with symlinks resolved, or None when it escapes ``root``."""
    resolved = _resolve_inside(str(root), relative)
    return Path(resolved) if resolved is not None else None


@lru_cache(maxsize=65536)
def _resolve_inside(root: str, relative: str) -> str | None:
    if os.path.isabs(relative):
        return None
    target = _realpath(os.path.join(root, relative))
    return target if target == root or target.startswith(root.rstrip(os.sep) + os.sep) else None


def _realpath(path: str) -> str:
    """``os.path.realpath``, each folder resolved once: it lstats every component, and thousands of data files share a few folders."""
    folder, leaf = os.path.split(path)
    if leaf in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    return os.path.join(_realpath_folder(folder), leaf)


@lru_cache(maxsize=4096)
def _realpath_folder(folder: str) -> str:
    return os.path.realpath(folder)
