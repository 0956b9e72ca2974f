"""Each commit's resource changes, cached by commit id: what a commit changed never changes.

A commit id names its tree and its parents, so its diff against its first parent, and the
resource changes read from it, are fixed once computed. A warm ``audit log`` lists the
commits (``git log`` without diffs), finds every one here, and neither asks git for a diff
nor reads a blob. The cache (``.llmops/cache/audit-commits-<folder>.marshal``) is keyed by
the project's folder in the repository and by the code that reads changes (the spec
language's defaults and the audit's diff), so a new default or rule recomputes it.
"""

from __future__ import annotations

import marshal
import os
from dataclasses import dataclass, field
from pathlib import Path

from compiler.audit.semantic_diff import FieldChange, ResourceChange

CACHE_VERSION = 1
_AUDIT = Path(__file__).resolve().parent
_CODE = (_AUDIT, _AUDIT.parent.parent / "llmops_spec")  # one distribution: the language sits beside the compiler


def code_signature() -> str:
    """Every module of the audit and of the spec language by name, size and mtime, found without importing them."""
    parts = [f"audit-commits/{CACHE_VERSION}"]
    for folder in _CODE:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            parts.append(f"{folder}:missing")
            continue
        for entry in entries:
            if entry.name.endswith(".py"):
                st = entry.stat()
                parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def encode(changes: tuple[ResourceChange, ...], renamed: tuple, other_files: tuple, spec_files: tuple) -> tuple:
    """Plain tuples for marshal: (ref, action, file, ((path, old, new), ...), valid) per change."""
    rows = tuple((c.ref, c.action, c.file, tuple((f.path, f.old, f.new) for f in c.fields), c.valid) for c in changes)
    return (rows, renamed, other_files, spec_files)


def decode(stored: tuple) -> tuple[tuple[ResourceChange, ...], tuple, tuple, tuple]:
    rows, renamed, other_files, spec_files = stored
    changes = tuple(ResourceChange(ref, action, file, tuple(FieldChange(*f) for f in fields), valid)
                    for ref, action, file, fields, valid in rows)
    return changes, tuple(map(tuple, renamed)), tuple(map(tuple, other_files)), tuple(spec_files)


@dataclass
class CommitCache:
    """Commit id -> its encoded resource changes, for one project folder of one repository."""

    path: Path | None
    signature: str
    entries: dict[str, tuple] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, root: Path | None, prefix: str) -> CommitCache:
        signature = f"{prefix}|{code_signature()}"
        if root is None:
            return cls(None, signature)
        # One file per project folder in the repository; the signature names the folder too, so a clash only misses.
        folder = prefix.strip("/").replace("/", "--")
        path = root / ".llmops" / "cache" / f"audit-commits{'-' if folder else ''}{folder}.marshal"
        try:
            stored_signature, entries = marshal.loads(path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return cls(path, signature)
        if stored_signature != signature or not isinstance(entries, dict):
            return cls(path, signature)
        return cls(path, signature, entries)

    def get(self, sha: str) -> tuple | None:
        """The stored changes of commit ``sha`` (see ``decode``), or None."""
        return self.entries.get(sha)

    def put(self, sha: str, encoded: tuple) -> None:
        if self.entries.get(sha) != encoded:
            self.entries[sha] = encoded
            self.dirty = True

    def save(self) -> None:
        """Write atomically; a read-only checkout simply stays uncached."""
        if not self.dirty or self.path is None:
            return
        from compiler.parse_cache import write_cache_file

        try:
            data = marshal.dumps((self.signature, self.entries))
        except ValueError:  # a value marshal cannot hold: leave the history uncached
            return
        write_cache_file(self.path, data)
        self.dirty = False
