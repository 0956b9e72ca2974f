"""A cache of parsed spec files, keyed by content hash, so a warm plan skips YAML parsing.

Only plain data is cached (marshal: fast and safe for dict/list/str/number); positions
are recomputed by re-parsing a file on the rare run that reports a diagnostic in it.
The cache lives in the project's private cache folder (``compiler.cache_dir``), never in the checkout.
"""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import Any

from compiler.cache_dir import cache_dir

CACHE_VERSION = 1
_MAGIC = f"llmops-parse-{CACHE_VERSION}-{sys.version_info[0]}.{sys.version_info[1]}"


def cache_path(root: Path) -> Path:
    return cache_dir(root) / "parsed.marshal"


def load_cache(root: Path) -> dict[str, list[tuple[int, int, Any]]]:
    """Content hash -> [(document index, start line, data)], or empty when missing or stale."""
    entries = read_signed(cache_path(root), _MAGIC)
    return entries if isinstance(entries, dict) else {}


def save_cache(root: Path, entries: dict[str, list[tuple[int, int, Any]]]) -> None:
    """Write the cache; a failure to write (read-only checkout) is not an error."""
    write_signed(cache_path(root), _MAGIC, entries)


def read_signed(path: Path | None, signature: str) -> Any | None:
    """What ``write_signed`` stored at ``path`` under ``signature``; None when missing, unreadable or stale."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            stored, payload = marshal.loads(handle.read())  # one read: marshal.load(file) reads in small pieces
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return payload if stored == signature else None


def write_signed(path: Path, signature: str, payload: Any) -> bool:
    """Store ``payload`` (plain data) under ``signature``, atomically; False when marshal cannot hold a value of it."""
    try:
        data = marshal.dumps((signature, payload))
    except ValueError:
        return False
    write_cache_file(path, data)
    return True


def write_cache_file(target: Path, data: bytes) -> None:
    """Write one file of a cache folder atomically (readers see the old or the new); failing to is not an error."""
    import tempfile  # here, not above: a cached plan reads caches and never pays for tempfile's imports

    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
