"""The state lock ``llmops.lock``: what was applied, as a versioned JSON document.

Format (docs/lock-format.md)::

    {"lock_version": 1,
     "nodes": {"Dataset/tickets:prepare": {
         "fingerprint": "...", "step": "prepare", "resource": "Dataset/tickets",
         "code": "prepare/1", "spec": {...}, "inputs": {"node id": "fingerprint"},
         "data": {"data/tickets.jsonl": "md5"}, "outputs": {"train": "md5", ...},
         "metrics": {...}, "applied_at": "2026-11-25T10:00:00Z", "commit": "sha",
         "applied_by": "name <email>"}}}

The compiler only reads it; runners/state.py writes it, atomically and under a lock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from compiler.diagnostics import Diagnostic, error

LOCK_VERSION = 1
LOCK_NAME = "llmops.lock"


@dataclass(frozen=True)
class LockEntry:
    fingerprint: str
    step: str
    resource: str
    code: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    data: dict[str, str | None] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    applied_at: str | None = None
    commit: str | None = None
    applied_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Lock:
    nodes: dict[str, LockEntry] = field(default_factory=dict)
    digest: str = hashlib.sha256(b"").hexdigest()  # of the file's bytes; empty when there is no lock yet

    def to_json(self) -> str:
        body = {"lock_version": LOCK_VERSION, "nodes": {nid: self.nodes[nid].to_dict() for nid in sorted(self.nodes)}}
        return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_lock(raw: bytes, name: str = LOCK_NAME) -> tuple[Lock, list[Diagnostic]]:
    """Pure: a Lock from the file's bytes, or an empty Lock and the reason it could not be read."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        body = _loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", 1)
        col = getattr(exc, "colno", 1)
        return Lock(digest=digest), [error(name, line, col, "E300", f"lock file is not valid JSON: {exc}",
                                           "restore it from git (git checkout -- llmops.lock); never edit it by hand")]
    version = body.get("lock_version") if isinstance(body, dict) else None
    if not isinstance(version, int):
        return Lock(digest=digest), [error(name, 1, 1, "E300", "lock file has no lock_version",
                                           "restore it from git; never edit it by hand")]
    if version > LOCK_VERSION:
        return Lock(digest=digest), [error(name, 1, 1, "E301", f"lock version {version} is newer than this llmops reads ({LOCK_VERSION})",
                                           "upgrade llmops-spec")]
    nodes: dict[str, LockEntry] = {}
    known = set(LockEntry.__dataclass_fields__)
    for nid, entry in (body.get("nodes") or {}).items():
        if not isinstance(entry, dict) or "fingerprint" not in entry:
            return Lock(digest=digest), [error(name, 1, 1, "E300", f"lock entry {nid} is malformed",
                                               "restore it from git; never edit it by hand")]
        nodes[nid] = LockEntry(**{k: v for k, v in entry.items() if k in known})
    return Lock(nodes, digest), []


def _loads(raw: bytes) -> Any:
    """orjson reads a 10,000-node lock in half the standard library's time; what orjson refuses
    (NaN, huge integers, a lone surrogate) goes to the standard library, which accepts it or
    raises the error users are shown."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))


def read_lock(root: Path) -> tuple[Lock, list[Diagnostic]]:
    """The project's lock; an absent lock is an empty one (nothing applied yet)."""
    from compiler.safe_read import MAX_STATE_BYTES, ReadRefused, read_regular

    try:  # a regular file of the repository, capped: a FIFO or a link to /dev/zero is refused, not read
        raw = read_regular(root / LOCK_NAME, MAX_STATE_BYTES, root)
    except FileNotFoundError:
        return Lock(), []
    except ReadRefused as refused:
        return Lock(), [error(LOCK_NAME, 0, 0, "E300", f"the lock file {refused.message}", refused.hint)]
    except OSError as exc:
        return Lock(), [error(LOCK_NAME, 1, 1, "E300", f"cannot read the lock file: {exc.strerror}")]
    return parse_lock(raw)
