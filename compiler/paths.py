"""Paths stay inside the project: resolved (symlinks followed), then confined to the root.

One mechanism for every path llmops reads from a checkout: a path written in a spec
(``source.path``, ``base.path``), a spec file found by walking, a file in a data or model
folder. A path is inside when its real path (``os.path.realpath``) is the root or below it;
a symlink that leads out of the repository is refused wherever it sits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``relative`` (as a spec writes it) under ``root`` with symlinks resolved, or None when it escapes ``root``."""
    resolved = _resolve_inside(str(root), relative)
    return Path(resolved) if resolved is not None else None


def real_inside(root: str, path: str) -> str | None:
    """The real path of ``path`` (absolute, or relative to ``root``) when it lies inside ``root``, else None."""
    root = real_folder(root)
    target = _realpath(os.path.join(root, path))
    return target if is_within(root, target) else None


def is_within(root: str, target: str) -> bool:
    """Whether the real path ``target`` is ``root`` (a real path) or below it."""
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


@lru_cache(maxsize=65536)
def _resolve_inside(root: str, relative: str) -> str | None:
    if os.path.isabs(relative):
        return None
    return real_inside(root, relative)


def _realpath(path: str) -> str:
    """``os.path.realpath``, each folder resolved once: it lstats every component, and thousands of data files share a few folders."""
    folder, leaf = os.path.split(path)
    if leaf in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    return os.path.join(real_folder(folder), leaf)


@lru_cache(maxsize=4096)
def real_folder(folder: str) -> str:
    """``os.path.realpath(folder)``, remembered for the run (a checkout does not change under a run)."""
    return os.path.realpath(folder)


@dataclass(frozen=True)
class Refusal:
    """An entry of a folder that is not read: where it is (under the folder) and why."""

    path: Path
    code: str      # E221: a symlink that leaves the repository; E005: not a regular file
    reason: str


def walk_inside(root: Path, folder: Path) -> tuple[list[Path], list[Refusal]]:
    """The regular files under ``folder`` (sorted), and the entries refused on the way.

    Symlinked folders are not descended (as ``Path.rglob`` does not); a symlink whose target
    leaves ``root`` is refused, file or folder; so is anything that is neither a file nor a
    folder (a FIFO, a socket, a device). A symlink to a regular file inside ``root`` is a
    file of the folder, named by the link. A dangling link inside ``root`` is skipped.
    """
    top = real_folder(str(root))
    files: list[Path] = []
    refused: list[Refusal] = []
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not is_within(top, target):
                    refused.append(Refusal(Path(entry.path), "E221", "is a symlink that leads out of the repository"))
                elif os.path.isfile(target):
                    files.append(Path(entry.path))
                elif os.path.lexists(target) and not os.path.isdir(target):
                    refused.append(Refusal(Path(entry.path), "E005", "is a symlink to something that is not a regular file"))
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                files.append(Path(entry.path))
            else:
                refused.append(Refusal(Path(entry.path), "E005", "is not a regular file (a FIFO, socket or device)"))
    files.sort()
    refused.sort(key=lambda r: r.path)
    return files, refused


def unreadable_data(root: Path, target: Path) -> Refusal | None:
    """Why the data at ``target`` (a resolved source path) cannot be read, naming the entry; None when it can.

    The first refused entry of a folder, or the source itself when it is not a regular file.
    Validate reports it (compiler/checks/datasets.py); the readers and the data hash refuse the same.
    """
    if target.is_dir():
        _, refused = walk_inside(root, target)
        if not refused:
            return None
        first = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return Refusal(first.path, first.code, f"{first.path.relative_to(root).as_posix()} {first.reason}{more}")
    if os.path.lexists(target) and not target.is_file():
        return Refusal(target, "E005", "is not a regular file (a FIFO, socket or device)")
    return None


def is_real_inside(root: Path, path: Path) -> bool:
    """Whether ``path`` is inside ``root`` as written: no symlink on the way leads elsewhere (it need not exist)."""
    return os.path.realpath(path) == str(path) and is_within(real_folder(str(root)), str(path))
