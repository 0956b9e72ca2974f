"""Where the compiler's caches live: outside the checkout, in a private folder of the user's, one per project.

Everything in a pull request is untrusted, ``.llmops/`` included: a cache committed into
the checkout could map a spec's hash to the parse of another spec. So no cache is ever
read from the project. Each project gets ``<base>/<sha256 of its resolved root>[:16]``,
where the base is the first of

* ``$LLMOPS_CACHE_DIR`` (CI, tests),
* ``$XDG_CACHE_HOME/llmops`` (an absolute ``XDG_CACHE_HOME`` only, as the XDG spec says),
* ``~/.cache/llmops``,

that does not lie inside the project itself, else a folder of the system temp dir.

The folder is created 0700 and used only while it and its parent are real folders (not
symlinks) owned by this user and writable by no one else; otherwise this run uses a fresh empty temp
folder instead (nothing cached is read). No key signs the entries: they are derived from
content hashes, and only a process of this user can write that folder, which could as
well run the compiler itself (docs/security.md).
"""

from __future__ import annotations

import hashlib
import os
import stat
from functools import lru_cache
from pathlib import Path

ENV = "LLMOPS_CACHE_DIR"


def _bases() -> list[Path]:
    bases = []
    chosen = os.environ.get(ENV)
    if chosen:
        bases.append(Path(chosen).expanduser())
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        bases.append(Path(xdg) / "llmops")
    try:
        bases.append(Path.home() / ".cache" / "llmops")
    except RuntimeError:  # no home directory: the temp dir's fallback
        pass
    return bases


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _private(folder: Path) -> bool:
    """Made (0700) or found as a real folder of this user's that no one else may write, and so is its parent."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        return all(_mine(os.lstat(path)) for path in (folder.parent, folder))
    except OSError:
        return False


def _mine(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def project_key(root: Path) -> str:
    """The name of a project's cache folder: its resolved root, hashed."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:16]


@lru_cache(maxsize=64)
def _cache_dir(root: Path, chosen: str | None, xdg: str | None, home: str | None) -> Path:
    key = project_key(root)
    for base in _bases():
        folder = (base / key).resolve()  # symlinks followed: a link into the checkout is inside it
        if not _inside(folder, root) and _private(folder):
            return folder
    import tempfile

    fallback = (Path(tempfile.gettempdir()) / f"llmops-cache-{os.geteuid()}" / key).resolve()
    if not _inside(fallback, root) and _private(fallback):
        return fallback
    return Path(tempfile.mkdtemp(prefix="llmops-cache-"))  # this run only: nothing cached is read


def cache_dir(root: Path) -> Path:
    """The private cache folder of the project at ``root`` (created on first use); never inside ``root``."""
    env = os.environ
    key = (Path(root).resolve(), env.get(ENV), env.get("XDG_CACHE_HOME"), env.get("HOME"))
    folder = _cache_dir(*key)
    if not folder.is_dir():  # removed since (a cold run of a benchmark): choose and make it again
        _cache_dir.cache_clear()
        folder = _cache_dir(*key)
    return folder
