"""``.llmops/``: llmops' own folder in a project, which git never sees.

Whatever llmops keeps in a checkout (caches, apply's temp folders with half-written weights)
goes under ``<root>/.llmops/``, and the folder holds a ``.gitignore`` of ``*`` from the moment it
is created, so ``git add -A`` never picks up anything in it. The folder and its sub-folders
must be real folders: a ``.llmops`` committed as a symlink (to ``/etc``, to a home folder)
is refused, never written through or cleared through.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

NAME = ".llmops"
IGNORE_ALL = b"*\n"


class NotOwnFolder(OSError):
    """A component of ``.llmops/...`` exists but is not a real folder (a symlink, a file)."""


def llmops_dir(root: Path, *parts: str) -> Path:
    """``<root>/.llmops/<parts...>``, created as real folders, with ``.llmops/.gitignore`` (``*``) in place."""
    folder = root / NAME
    _real_folder(folder)
    ignore = folder / ".gitignore"
    if not _ignores_all(ignore):  # missing, or a committed one that un-ignores: rewritten (a link is replaced, not followed)
        tmp = folder / f".gitignore.{os.getpid()}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(IGNORE_ALL)
        os.replace(tmp, ignore)
    for part in parts:
        folder = folder / part
        _real_folder(folder)
    return folder


def _ignores_all(ignore: Path) -> bool:
    from compiler.safe_read import ReadRefused, read_regular

    try:
        return read_regular(ignore, 64) == IGNORE_ALL
    except (OSError, ReadRefused):
        return False


def _real_folder(path: Path) -> None:
    try:
        path.mkdir()
    except FileExistsError:
        pass
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise NotOwnFolder(f"{path} is not a folder of llmops' own (a symlink or a file); remove it, llmops "
                           "recreates it")
