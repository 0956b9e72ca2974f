"""Which installation of a library is in use, told without importing it or ``importlib.metadata``.

A cache whose answers depend on a library (the CEL engine, detect-secrets, pydantic) is
keyed by where the library lives and by the stat signature of its files' folder and of
the folder that holds it: installing, upgrading or removing any distribution beside it
rewrites that folder. ``importlib.metadata`` would tell the version too, but costs a
warm ``plan`` more than everything else it does at a hundred resources (it imports
email, zipfile and socket).
"""

from __future__ import annotations

import importlib.machinery
import os
import stat
from pathlib import Path

_TOP = Path(__file__).resolve().parent.parent  # where llmops' packages sit side by side (one distribution)


def stat_signature(path: str) -> tuple[int, int, int, int] | None:
    """(type, size, mtime_ns, inode) of ``path``, or None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino)


def library_signature(name: str) -> tuple:
    """(name, where it lives, its signature, its site folder's signature); (name, None) when not installed."""
    spec = importlib.machinery.PathFinder.find_spec(name)  # finds without importing, even a namespace package
    if spec is None:
        return (name, None)
    where = spec.origin or next(iter(spec.submodule_search_locations or ()), "")
    package = spec.origin is not None and spec.submodule_search_locations is not None  # .../site/name/__init__.py
    site = os.path.dirname(os.path.dirname(where) if package else where)
    return (name, where, stat_signature(where), stat_signature(site))


def package_folder(package: str) -> Path | None:
    """Where llmops' own ``package`` (dotted) lives, found without importing it; None when it cannot be found.

    Beside this module as one distribution installs it, else wherever an installation that
    split the distribution keeps it (an editable install may).
    """
    beside = _TOP.joinpath(*package.split("."))
    if (beside / "__init__.py").is_file():
        return beside
    import importlib.util

    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    return Path(locations[0]) if locations else None
