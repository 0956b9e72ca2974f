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

from compiler.lockfile import LOCK_NAME, Lock, LockEntry, read_lock
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
    lock, problems = read_lock(root)
    if problems:
        raise ValueError(problems[0].message)
    updated = Lock({**lock.nodes, **entries})
    write_atomic(root / LOCK_NAME, updated.to_json())
    return updated


def forget_node(root: Path, node_id: str) -> Lock:
    """Remove one node from llmops.lock (call under ``state_guard``)."""
    lock, problems = read_lock(root)
    if problems:
        raise ValueError(problems[0].message)
    nodes = {nid: e for nid, e in lock.nodes.items() if nid != node_id}
    updated = Lock(nodes)
    write_atomic(root / LOCK_NAME, updated.to_json())
    return updated
