"""Test support: write llmops.lock as apply does, each entry vouched for by a landing record in the apply log."""

from __future__ import annotations

import time
from pathlib import Path

from compiler.lockfile import Lock, LockEntry, read_lock
from runners.apply_log import LogWriter
from runners.state import LockWriter


def write_vouched_lock(root: Path, nodes: dict[str, LockEntry], replace: bool = True) -> Lock:
    """``nodes`` into the lock (replacing it, or added to it), after a landing record that vouches for them."""
    before = Lock() if replace else read_lock(root)[0]
    entries = {nid: {"fingerprint": e.fingerprint, "status": "applied", "action": "create",
                     "outputs": {k: v for k, v in e.outputs.items() if isinstance(v, str)}, "metrics": e.metrics,
                     "entry": e.digest, "previous": None} for nid, e in nodes.items()}
    LogWriter(root).append({"kind": "landing", "run": "test", "who": "tests", "commit": None, "plan_hash": "test",
                            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nodes": entries})
    return LockWriter(root, before).record(nodes)
