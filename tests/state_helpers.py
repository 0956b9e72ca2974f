"""Test support: write llmops.lock as apply does (each entry vouched for by a landing record), and record builders."""

from __future__ import annotations

import time
from pathlib import Path

from compiler.lockfile import Lock, LockEntry, read_lock
from runners.apply_log import LogWriter
from runners.state import LockWriter

KEY = "k3y-for-tests-only"  # LLMOPS_LOG_KEY in tests


def entry(fp: str = "f1", metrics: dict | None = None) -> LockEntry:
    return LockEntry(fp, "gate", "EvalGate/quality", metrics={"passed": False, "n": 3} if metrics is None else metrics)


def landing(nodes: dict[str, LockEntry | None], previous: dict[str, LockEntry] | None = None) -> dict:
    previous = previous or {}
    return {"kind": "landing", "run": "r", "who": "ci", "when": "2026-01-01T00:00:00Z", "commit": None, "plan_hash": "p",
            "nodes": {nid: {"fingerprint": e.fingerprint if e else None, "status": "applied" if e else "deleted",
                            "outputs": {}, "metrics": e.metrics if e else {}, "entry": e.digest if e else None,
                            "previous": previous[nid].digest if nid in previous else None} for nid, e in nodes.items()}}


def write_vouched_lock(root: Path, nodes: dict[str, LockEntry], replace: bool = True) -> Lock:
    """``nodes`` into the lock (replacing it, or added to it), after a landing record that vouches for them."""
    before = Lock() if replace else read_lock(root)[0]
    entries = {nid: {"fingerprint": e.fingerprint, "status": "applied", "action": "create",
                     "outputs": {k: v for k, v in e.outputs.items() if isinstance(v, str)}, "metrics": e.metrics,
                     "entry": e.digest, "previous": None} for nid, e in nodes.items()}
    LogWriter(root).append({"kind": "landing", "run": "test", "who": "tests", "commit": None, "plan_hash": "test",
                            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nodes": entries})
    return LockWriter(root, before).record(nodes)
