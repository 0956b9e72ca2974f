"""The resources a spec file's bytes define, normalized, cached by blob id.

A resource is compared by its normalized document: the pydantic model's dump with
defaults filled in (``metadata`` and ``spec``), so comments, formatting, key order,
quoting and spelling a default out are not changes. A document that does not validate
is kept as written (``valid`` false), so history still shows what changed in it.

Blob ids are content hashes, so what a blob defines never changes: the cache
(``audit-blobs.marshal`` of the project's cache folder) is keyed by blob id and by the signature of the
language's source (a new default changes every normalized dump), and a warm
``audit log`` never imports pydantic at all.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from compiler.cache_dir import cache_dir
from compiler.discover import SKIP_DIRS, SKIP_FILES, SPEC_SUFFIXES
from compiler.installed import package_folder
from compiler.parse_cache import read_signed, write_signed

CACHE_VERSION = 2
# "Kind/name" -> (valid, normalized {"metadata", "spec"} or None when invalid, as written {"metadata", "spec"})
Defined = dict[str, tuple[bool, dict[str, Any] | None, dict[str, Any]]]


@lru_cache(maxsize=65536)
def is_spec_path(rel: str) -> bool:
    """Whether ``find_spec_files`` would load this project-relative path (same rules, on a tree path)."""
    parts = rel.split("/")
    if any(p.startswith(".") or p in SKIP_DIRS for p in parts[:-1]):
        return False
    name = parts[-1]
    return name.endswith(SPEC_SUFFIXES) and name not in SKIP_FILES and not name.startswith(".")


def parse_blob(raw: bytes, path: str) -> Defined:
    """Pure: every resource in a spec file's bytes, normalized where it validates."""
    from compiler.resources import to_resource
    from compiler.yaml_source import decode, parse_documents

    text, problem = decode(raw, path)
    if text is None:
        return {}
    docs, _ = parse_documents(text, path)
    found: Defined = {}
    for doc in docs:
        resource, _ = to_resource(doc)
        if resource is None or str(resource.ref) in found:
            continue
        data = doc.data if isinstance(doc.data, dict) else {}
        written = {"metadata": data.get("metadata"), "spec": data.get("spec")}
        normalized = (resource.model.model_dump(mode="json", by_alias=True, include={"metadata", "spec"})
                      if resource.model is not None else None)
        found[str(resource.ref)] = (normalized is not None, normalized, written)
    return found


def source_signature(package: str) -> str:
    """Sizes and times of a package's modules, found without importing them (pydantic is slow to import).

    What a cache derived by that code must be keyed by: a new default in the language, or
    a new rule in the policy engine, makes every earlier answer stale.
    """
    folder = package_folder(package)
    parts = [f"{package}/{CACHE_VERSION}"]
    if folder is not None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                st = entry.stat()
                parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


class BlobCache:
    """Blob id -> what it defines, persisted beside the compiler's other caches; read on first use.

    A history answered from the commit cache needs no blob, so loading costs nothing until
    one is asked for.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.signature = ""
        self._entries: dict[str, Defined] | None = None
        self.dirty = False

    @classmethod
    def load(cls, root: Path | None) -> BlobCache:
        return cls(cache_dir(root) / "audit-blobs.marshal" if root is not None else None)

    @property
    def entries(self) -> dict[str, Defined]:
        if self._entries is None:
            self.signature = source_signature("llmops_spec")
            stored = read_signed(self.path, self.signature)
            self._entries = stored if isinstance(stored, dict) else {}
        return self._entries

    def defined(self, blobs: dict[str, tuple[str, bytes | None]]) -> dict[str, Defined]:
        """What each blob defines; ``blobs`` maps blob id -> (path, bytes or None when cached)."""
        entries = self.entries
        out: dict[str, Defined] = {}
        for sha, (path, raw) in blobs.items():
            hit = entries.get(sha)
            if hit is None:
                hit = entries[sha] = parse_blob(raw or b"", path)
                self.dirty = True
            out[sha] = hit
        return out

    def missing(self, shas: list[str]) -> list[str]:
        entries = self.entries
        return [sha for sha in shas if sha not in entries]

    def save(self) -> None:
        """Write atomically; a read-only checkout simply stays uncached."""
        if self.dirty and self.path is not None and write_signed(self.path, self.signature, self.entries):
            self.dirty = False
