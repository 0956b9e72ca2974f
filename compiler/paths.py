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
    target = os.path.realpath(os.path.join(root, relative))
    return target if target == root or target.startswith(root.rstrip(os.sep) + os.sep) else None
