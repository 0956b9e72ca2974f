"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, temp_dir: Path | None = None) -> None:
    """Write ``text`` to a temp file, fsync it, rename it over ``path``, fsync the folder.

    The temp file is made in ``temp_dir`` (on ``path``'s filesystem, so the rename is atomic) or, without
    one, beside ``path``. What llmops writes into a checkout passes the project's ``.llmops/tmp``, which git
    ignores: a write killed before its rename leaves nothing that ``git add -A`` would commit.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=temp_dir or path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
