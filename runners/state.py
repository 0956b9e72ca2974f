"""Writing the state lock: atomically, one writer at a time, naming the holder to anyone refused."""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compiler.llmops_dir import llmops_dir
from compiler.lockfile import LOCK_NAME, LOCK_VERSION, Lock, LockEntry, read_lock
from runners.files import write_atomic


class StateLocked(Exception):
    """Another process holds the state lock."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"the state is locked by {holder}")
        self.holder = holder


def _guard_paths(root: Path) -> tuple[Path, Path]:
    folder = root / ".llmops"
    return folder / "state.lock", folder / "state.holder"


@contextmanager
def state_guard(root: Path, timeout: float = 0) -> Iterator[None]:
    """Hold the project's state lock; raises StateLocked (naming who holds it) when taken."""
    from filelock import FileLock, Timeout

    guard, holder_file = _guard_paths(root)
    guard.parent.mkdir(parents=True, exist_ok=True)
    ignore = guard.parent / ".gitignore"  # llmops' own folder: never committed (the caches live outside the checkout)
    if not ignore.exists():
        ignore.write_text("*\n")
    lock = FileLock(str(guard))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        try:
            holder = json.loads(holder_file.read_text())
            who = f"{holder['user']}@{holder['host']} (pid {holder['pid']}, since {holder['since']})"
        except (OSError, ValueError, KeyError):
            who = "another llmops process"
        raise StateLocked(who) from None
    try:
        holder_file.write_text(json.dumps({"user": getpass.getuser(), "host": socket.gethostname(), "pid": os.getpid(),
                                           "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        yield
    finally:
        holder_file.unlink(missing_ok=True)
        lock.release()


def record_node(root: Path, node_id: str, entry: LockEntry) -> Lock:
    """Add or replace one node in llmops.lock (call under ``state_guard``); returns the new lock."""
    return record_nodes(root, {node_id: entry})


def record_nodes(root: Path, entries: dict[str, LockEntry]) -> Lock:
    """Add or replace nodes in llmops.lock in one atomic write (call under ``state_guard``); returns the new lock."""
    return _writer(root).record(entries)


def forget_node(root: Path, node_id: str) -> Lock:
    """Remove one node from llmops.lock (call under ``state_guard``)."""
    return _writer(root).forget(node_id)


def _writer(root: Path) -> LockWriter:
    """A writer over llmops.lock as it is on disk, for one change; a lock that does not read is not overwritten."""
    lock, problems = read_lock(root)
    if problems:
        raise ValueError(problems[0].message)
    return LockWriter(root, lock)


class LockWriter:
    """llmops.lock as one apply keeps it (under ``state_guard``): in memory, rewritten atomically after each change.

    The lock it starts from is read once; each write encodes only the entries that changed
    (``lock_text``), so a write costs the file's bytes, not a JSON encoding of every node:
    an apply that lands N nodes one by one does not pay N encodings of a growing lock.
    """

    def __init__(self, root: Path, lock: Lock) -> None:
        self.root = root
        self.lock = lock
        self._encoded: dict[str, str] = {}

    def record(self, entries: dict[str, LockEntry]) -> Lock:
        """Add or replace nodes, in one write; returns the new lock."""
        for nid in entries:
            self._encoded.pop(nid, None)
        return self._write({**self.lock.nodes, **entries})

    def forget(self, node_id: str) -> Lock:
        """Remove one node; returns the new lock."""
        self._encoded.pop(node_id, None)
        return self._write({nid: e for nid, e in self.lock.nodes.items() if nid != node_id})

    def _write(self, nodes: dict[str, LockEntry]) -> Lock:
        write_atomic(self.root / LOCK_NAME, lock_text(nodes, self._encoded), llmops_dir(self.root, "tmp"))
        self.lock = Lock(nodes)
        return self.lock


def lock_text(nodes: dict[str, LockEntry], encoded: dict[str, str]) -> str:
    """``Lock(nodes).to_json()``, byte for byte, from each entry's JSON, encoded once and kept in ``encoded``."""
    if not nodes:
        return Lock(nodes).to_json()
    parts = []
    for nid in sorted(nodes):
        text = encoded.get(nid)
        if text is None:  # at depth 2 of the document: every line after the first indented by 4 more spaces
            text = encoded[nid] = json.dumps(nodes[nid].to_dict(), indent=2, sort_keys=True,
                                             ensure_ascii=False).replace("\n", "\n    ")
        parts.append(f"    {json.dumps(nid, ensure_ascii=False)}: {text}")
    return f'{{\n  "lock_version": {LOCK_VERSION},\n  "nodes": {{\n' + ",\n".join(parts) + "\n  }\n}\n"

