"""Paths written in specs are relative to the project root and must stay inside it."""

from __future__ import annotations

from pathlib import Path


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``relative`` under ``root`` with symlinks resolved, or None when it escapes ``root``."""
    if Path(relative).is_absolute():
        return None
    target = (root / relative).resolve()
    return target if target == root or root in target.parents else None
