"""What apply writes when a node lands or goes: DVC's versioned artifact, the apply log's word for it, the lock.

For the nodes that finished together (one batch): their pushed folders are checked on the
remote in place, or brought from it into the DVC cache and the workspace (``pull``), in one
landing, each against its task's manifest, and given their ``.dvc`` files (``Store.land_many``;
a node's land_s is its share of that landing's time); then one write-ahead ``landing`` record
names the entries about to be written (every lock entry is vouched for at every instant, even
when the run is killed: compiler/state_trust.py), and llmops.lock is written once, atomically. A node whose folder
cannot be landed fails with its own message; the others of the batch land.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from compiler.fingerprint import Fingerprint
from compiler.graph import Graph
from compiler.lockfile import Lock, LockEntry, read_lock
from compiler.plan import Plan
from runners.apply_log import LogWriter, landing_record
from runners.dvc_store import Store
from runners.state import LockWriter
from runners.step import NodeFailed, StepResult


@dataclass(frozen=True)
class Finished:
    """A node whose step finished with outputs on the remote: to be landed with ``status``."""

    node: str
    status: str                       # applied | gate-failed
    result: StepResult
    manifest: Any                     # runners.objects.Manifest
    extra_outputs: dict[str, Any] = field(default_factory=dict)


def identity(root: Any) -> tuple[str | None, str]:
    """The commit being applied and who applies it (LLMOPS_APPLIED_BY, else git's user, else the login)."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip() or None
        except (OSError, subprocess.CalledProcessError):
            return None

    who = os.environ.get("LLMOPS_APPLIED_BY")
    if not who:
        name, email = git("config", "user.name"), git("config", "user.email")
        who = f"{name} <{email}>" if name and email else (name or getpass.getuser())
    return git("rev-parse", "HEAD"), who


class Recorder:
    """The one writer of an apply's state: under the state lock (llmops_cli holds it), only this writes."""

    def __init__(self, graph: Graph, prints: dict[str, Fingerprint], plan: Plan, store: Store, pull: bool = True) -> None:
        root = store.root
        self.pull = pull  # bring each landed folder into the workspace, or check it on the remote in place
        self.graph, self.prints, self.store = graph, prints, store
        self.commit, self.who = identity(root)
        self.writer = LockWriter(root, read_lock(root)[0])
        self.log = LogWriter(root)  # raises ApplyLogBroken: nothing runs on a log that does not verify
        self.run_id = uuid.uuid4().hex
        self.plan_hash = plan.digest
        self._actions = {c.node: c.action for c in plan.changes}

    @property
    def lock(self) -> Lock:
        return self.writer.lock

    def land(self, batch: list[Finished]) -> dict[str, NodeFailed | float]:
        """Land ``batch``: per node, the seconds its landing took, or why it could not be landed."""
        results: dict[str, NodeFailed | float] = {}
        entries: dict[str, LockEntry] = {}
        applied_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        folders = {item.node: self.store.artifact_dir(str(self.graph.nodes[item.node].resource),
                                                      self.graph.nodes[item.node].step) for item in batch}
        started = time.perf_counter()
        landed = self.store.land_many({item.node: (folders[item.node], item.manifest) for item in batch}, fetch=self.pull)
        share = (time.perf_counter() - started) / max(len(batch), 1)  # one landing for the batch: each node its share
        for item in batch:
            node, fp, md5 = self.graph.nodes[item.node], self.prints[item.node], landed[item.node]
            if isinstance(md5, NodeFailed):
                results[item.node] = md5
                continue
            results[item.node] = share
            outputs = {folders[item.node].relative_to(self.store.root).as_posix(): md5, **item.extra_outputs}
            entries[item.node] = LockEntry(fp.value, node.step, str(node.resource), fp.code, fp.spec, fp.inputs, fp.data,
                                           outputs, jsonable(item.result.metrics), applied_at, self.commit, self.who)
        if entries:
            self._vouch(entries, {item.node: item.status for item in batch if item.node in entries})
            self.writer.record(entries)
        return results

    def forget(self, nid: str) -> None:
        """Stop tracking a removed node's artifact (the cache and remote keep it for audits), then drop its entry."""
        entry = self.lock.nodes[nid]
        self.store.forget(self.store.artifact_dir(entry.resource, entry.step))
        self._vouch({nid: None}, {nid: "deleted"})
        self.writer.forget(nid)

    def _vouch(self, entries: dict[str, LockEntry | None], statuses: dict[str, str]) -> None:
        """Append the landing record for entries about to be written (None: deleted): before the lock write."""
        self.log.append(landing_record(self.run_id, self.who, self.commit, self.plan_hash, entries, self.lock.nodes,
                                       statuses, self._actions))


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
