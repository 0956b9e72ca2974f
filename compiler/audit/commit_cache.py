"""Each commit's resource changes, cached by commit id: what a commit changed never changes.

A commit id names its tree and its parents, so its diff against its first parent, and the
resource changes read from it, are fixed once computed; so is the list of commits that
touch the project folder reachable from it. A warm ``audit log`` asks git for the head's
id, finds the list and every commit here, and neither walks the history nor reads a blob.
A head not seen before lists its commits with one ``git log`` without diffs; only new
commits read the history in full. The cache (``audit-commits-<folder>.marshal`` of the project's cache folder)
is keyed by the project's folder in the repository and by the code that reads changes
(the spec language's defaults and the audit's diff), so a new default recomputes it.
"""

from __future__ import annotations

from pathlib import Path

from compiler.audit.git import Commit
from compiler.audit.semantic_diff import FieldChange, ResourceChange
from compiler.audit.snapshot import source_signature
from compiler.cache_dir import cache_dir
from compiler.parse_cache import read_signed, write_signed

CACHE_VERSION = 3
MAX_LISTINGS = 16  # heads whose commit lists are kept: branches and recent pulls

Changes = tuple[tuple[ResourceChange, ...], tuple, tuple, tuple]  # changes, renamed, other files, spec files


def code_signature() -> str:
    """The audit's and the spec language's modules by name, size and mtime, found without importing them."""
    return f"audit-commits/{CACHE_VERSION}|{source_signature('compiler.audit')}|{source_signature('llmops_spec')}"


def encode(commit: Commit, changes: Changes) -> tuple:
    """Plain tuples for marshal: the commit without its files, and (ref, action, file, fields, valid) per change."""
    resource_changes, renamed, other_files, spec_files = changes
    rows = tuple((c.ref, c.action, c.file, tuple(tuple(f) for f in c.fields), c.valid) for c in resource_changes)
    return (tuple(commit[:7]), (rows, renamed, other_files, spec_files))


def decode(stored: tuple) -> tuple[Commit, Changes]:
    head, (rows, renamed, other_files, spec_files) = stored
    changes = tuple(ResourceChange(ref, action, file, tuple(FieldChange(*f) for f in fields), valid)
                    for ref, action, file, fields, valid in rows)
    return Commit(*head), (changes, renamed, other_files, spec_files)


class CommitCache:
    """Commit id -> the commit and its encoded resource changes; head id -> the commits listed from it."""

    def __init__(self, path: Path | None, signature: str, entries: dict[str, tuple] | None = None,
                 listings: dict[str, tuple[str, ...]] | None = None) -> None:
        self.path = path
        self.signature = signature
        self.entries = entries if entries is not None else {}
        self.listings = listings if listings is not None else {}
        self.dirty = False

    @classmethod
    def load(cls, root: Path | None, prefix: str) -> CommitCache:
        signature = f"{prefix}|{code_signature()}"
        if root is None:
            return cls(None, signature)
        # One file per project folder in the repository; the signature names the folder too, so a clash only misses.
        folder = prefix.strip("/").replace("/", "--")
        path = cache_dir(root) / f"audit-commits{'-' if folder else ''}{folder}.marshal"
        stored = read_signed(path, signature)
        if not (isinstance(stored, tuple) and len(stored) == 2 and all(isinstance(part, dict) for part in stored)):
            return cls(path, signature)
        return cls(path, signature, *stored)

    def history(self, shas: list[str] | tuple[str, ...]) -> list[tuple[Commit, Changes]] | None:
        """Each commit of ``shas`` with its changes, or None when any one was never read."""
        entries = self.entries
        if not all(sha in entries for sha in shas):
            return None
        return [decode(entries[sha]) for sha in shas]

    def listing(self, head: str) -> tuple[str, ...] | None:
        """The commits (newest first) that the history from ``head`` holds, when listed before."""
        return self.listings.get(head)

    def remember(self, head: str | None, history: list[tuple[Commit, Changes]]) -> None:
        for commit, changes in history:
            if commit.sha not in self.entries:
                self.entries[commit.sha] = encode(commit, changes)
                self.dirty = True
        if head is not None and head not in self.listings:
            if len(self.listings) >= MAX_LISTINGS:
                del self.listings[next(iter(self.listings))]  # the oldest head
            self.listings[head] = tuple(commit.sha for commit, _ in history)
            self.dirty = True

    def save(self) -> None:
        """Write atomically; a read-only checkout simply stays uncached."""
        if self.dirty and self.path is not None and write_signed(self.path, self.signature, (self.entries, self.listings)):
            self.dirty = False
