"""Content hashes of data files: the md5 DVC recorded, or the file's own md5.

Hashing large data on every plan would be slow, so computed md5s are cached by
(path, size, mtime, inode) in ``hashes.json`` of the project's cache folder, as DVC does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from compiler.cache_dir import cache_dir
from compiler.paths import walk_inside
from compiler.safe_read import MAX_SPEC_BYTES, MAX_STATE_BYTES, ReadRefused, open_regular, read_regular
from compiler.yaml_source import decode, parse_documents


def md5_file(path: Path, root: Path) -> str:
    """The md5 of a regular file inside ``root`` (compiler/safe_read.py: no FIFO, device or link out is read)."""
    h = hashlib.md5(usedforsecurity=False)
    with open_regular(path, None, root) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dvc_recorded_md5(path: Path, root: Path | None = None) -> str | None:
    """The md5 in ``<path>.dvc``, if the file is DVC-tracked (a ``.dvc`` file inside ``root``, regular, capped)."""
    meta = Path(str(path) + ".dvc")
    try:
        text, _ = decode(read_regular(meta, MAX_SPEC_BYTES, root if root is not None else meta.parent), meta.name)
    except (OSError, ReadRefused):
        return None
    docs, _ = parse_documents(text or "", meta.name)
    outs = docs[0].data.get("outs") if docs else None
    if isinstance(outs, list) and outs and isinstance(outs[0], dict):
        md5 = outs[0].get("md5")
        return str(md5) if md5 else None
    return None


class HashCache:
    """md5 of files by stat signature, loaded once and saved when it grew."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = cache_dir(root) / "hashes.json"
        try:  # not through a link, a FIFO or /dev/zero (compiler/safe_read.py)
            self.entries: dict[str, list] = json.loads(read_regular(self.path, MAX_STATE_BYTES))
        except (OSError, ValueError, ReadRefused):
            self.entries = {}
        if not isinstance(self.entries, dict):
            self.entries = {}
        self.dirty = False

    def md5(self, path: Path) -> str:
        st = path.stat()
        signature = [st.st_size, st.st_mtime_ns, st.st_ino]
        key = str(path)
        hit = self.entries.get(key)
        if hit is not None and hit[:3] == signature:
            return hit[3]
        digest = md5_file(path, self.root)
        self.entries[key] = [*signature, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.entries))
            os.replace(tmp, self.path)
        except OSError:
            pass


def folder_digest(pairs: list[tuple[str, str]]) -> str:
    """Pure: the content hash of a folder from its files' (path inside it, md5) pairs, in walk order."""
    h = hashlib.md5(usedforsecurity=False)
    for relpath, md5 in pairs:
        h.update(f"{relpath}\0{md5}\n".encode())
    return h.hexdigest() + ".dir"


def data_md5(path: Path, cache: HashCache) -> str | None:
    """The content hash of a data file or folder; None when it is not here (nor DVC-tracked), or not readable as data.

    Only what apply would read is hashed: regular files inside the project. A folder holding a
    symlink out of the repository, or a FIFO or device, is not hashed at all (validate reports it,
    compiler/checks/datasets.py; apply fails the node), so no byte outside the project is read.
    """
    recorded = dvc_recorded_md5(path, cache.root)
    if recorded:
        return recorded
    try:
        if path.is_dir():
            files, refused = walk_inside(cache.root, path)
            if refused:
                return None
            return folder_digest([(file.relative_to(path).as_posix(), cache.md5(file)) for file in files])
        if os.path.lexists(path):
            return cache.md5(path)
    except (OSError, ReadRefused):
        return None
    return None
