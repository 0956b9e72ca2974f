"""The spec history from git: per commit, the resources it added, removed or changed.

One ``git log --raw`` gives every commit's changed files with the blob ids of both
sides; each blob is parsed once (``BlobCache``), and a commit's resource changes are the
resources of its old blobs diffed against those of its new blobs. Merges are diffed
against their first parent: what the merge brought into the branch.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from compiler.audit.applylog import APPLY_LOG_NAME
from compiler.audit.commit_cache import CommitCache
from compiler.audit.git import Commit, FileChange, Repo, log, read_blobs, resolve_commit
from compiler.audit.semantic_diff import ResourceChange, Version, diff_versions
from compiler.audit.snapshot import BlobCache, is_spec_path
from compiler.discover import LOCK_NAME

BOOKKEEPING = frozenset({LOCK_NAME, APPLY_LOG_NAME})


def iso(ts: int) -> str:
    """A unix time as UTC ISO 8601 (``2026-01-01T10:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class SpecCommit(NamedTuple):
    """One commit as an auditor reads it: who, when, why, and what changed in the resources."""

    commit: Commit
    changes: tuple[ResourceChange, ...]
    renamed: tuple[tuple[str, str], ...]     # spec files moved (project-relative), resources unchanged by it
    other_files: tuple[tuple[str, str], ...]  # (status, path) of non-spec files: data, the lock, the apply log
    spec_files: tuple[str, ...] = ()          # spec files touched (a comment-only edit touches one, changes nothing)

    def to_dict(self) -> dict[str, Any]:
        c = self.commit
        return {"commit": c.sha, "parents": list(c.parents), "merge": c.is_merge, "author": c.author, "email": c.email,
                "date": iso(c.authored), "committed": iso(c.committed), "message": c.message,
                "changes": [ch.to_dict() for ch in self.changes],
                "renamed": [{"from": a, "to": b} for a, b in self.renamed],
                "files": [{"status": s, "path": p} for s, p in self.other_files], "spec_files": list(self.spec_files)}


def _sides(repo: Repo, change: FileChange) -> list[tuple[str, str, str]]:
    """(side, project-relative path, blob) of each spec-file side of a change."""
    out = []
    for side, path, blob in (("old", change.old_path, change.old_blob), ("new", change.new_path, change.new_blob)):
        rel = repo.relative(path) if path else None
        if rel is not None and blob and is_spec_path(rel):
            out.append((side, rel, blob))
    return out


def _spec_commit(repo: Repo, commit: Commit, defined: dict[str, dict]) -> SpecCommit:
    versions: dict[str, Version] = {"old": {}, "new": {}}
    renamed: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    touched: set[str] = set()
    for change in commit.files:
        sides = _sides(repo, change)
        for side, rel, blob in sides:
            touched.add(rel)
            for ref, (_, normalized, written) in defined[blob].items():
                versions[side][ref] = (rel, normalized, written)
        if change.status == "R" and change.old_path and change.new_path:
            old_rel, new_rel = repo.relative(change.old_path), repo.relative(change.new_path)
            if old_rel and new_rel and is_spec_path(old_rel) and is_spec_path(new_rel):
                renamed.append((old_rel, new_rel))
                continue
        if not sides:
            rel = repo.relative(change.new_path or change.old_path or "")
            if rel is not None:
                others.append((change.status, rel))
    return SpecCommit(commit, tuple(diff_versions(versions["old"], versions["new"])), tuple(renamed), tuple(others),
                      tuple(sorted(touched)))


def spec_history(repo: Repo, cache: BlobCache, rev: str = "HEAD", since: str | None = None,
                 until: str | None = None, commits: CommitCache | None = None) -> list[SpecCommit]:
    """Every commit reachable from ``rev`` touching the project folder, newest first, with its resource changes.

    With ``commits``, a history read before is answered from it: the whole history of a
    head listed before (one ``git rev-parse``), else the commits of one ``git log``
    without diffs when each was read before. Otherwise the history is read in full and
    remembered.
    """
    head = None
    if commits is not None and since is None and until is None:
        head = repo.head if rev == "HEAD" and repo.head else resolve_commit(repo, rev)
    walk = head or rev  # every read below sees the one commit the listing is remembered for
    if commits is not None:
        listed = commits.listing(head) if head is not None else None
        known = commits.history(listed) if listed is not None else None
        if known is None:
            listing = log(repo, walk, since, until, files=False)
            known = commits.history([c.sha for c in listing])
            if known is not None and head is not None:
                commits.remember(head, known)
                commits.save()
        if known is not None:
            return [SpecCommit(commit, *changes) for commit, changes in known]
    found = log(repo, walk, since, until)
    paths: dict[str, str] = {}
    for commit in found:
        for change in commit.files:
            for _, rel, blob in _sides(repo, change):
                paths.setdefault(blob, rel)
    raw = read_blobs(repo, cache.missing(list(paths)))
    defined = cache.defined({blob: (rel, raw.get(blob)) for blob, rel in paths.items()})
    cache.save()
    history = [_spec_commit(repo, commit, defined) for commit in found]
    if commits is not None:
        commits.remember(head, [(e.commit, (e.changes, e.renamed, e.other_files, e.spec_files)) for e in history])
        commits.save()
    return history


def is_bookkeeping(entry: SpecCommit) -> bool:
    """A commit that only records applies (the lock, the apply log): no change to the specs or data."""
    return (not entry.spec_files and bool(entry.other_files)
            and all(path in BOOKKEEPING for _, path in entry.other_files))


def matching(entry: SpecCommit, kind: str | None, name: str | None) -> SpecCommit | None:
    """The entry with only the changes of resources of ``kind`` and ``name``; None when none is left."""
    if kind is None and name is None:
        return entry
    kept = tuple(c for c in entry.changes if (kind is None or c.kind == kind) and (name is None or c.name == name))
    return SpecCommit(entry.commit, kept, (), (), tuple(sorted({c.file for c in kept}))) if kept else None


def introduced_by(history: list[SpecCommit], ref: str) -> SpecCommit | None:
    """The newest commit in ``history`` that added or changed ``ref``: who wrote its current version.

    A merge only carries a branch's change into the line, so the branch commit that made
    the change is named; a merge is named only when no other commit changed ``ref``.
    """
    touching = [e for e in history if any(c.ref == ref and c.action != "removed" for c in e.changes)]
    return next((e for e in touching if not e.commit.is_merge), touching[0] if touching else None)
