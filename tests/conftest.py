"""Shared fixtures: small spec projects written to temp folders."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "specs"


def write_project(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path -> text, dedented, or bytes) under ``root``."""
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path):
    """``project({...files})`` -> a fresh folder holding them (one per call)."""
    counter = iter(range(1_000_000))
    return lambda files: write_project(tmp_path / f"p{next(counter)}", files)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of the example project, free to edit."""
    target = tmp_path / "specs"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".llmops", "llmops.lock"))
    return target
