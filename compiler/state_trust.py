"""The lock against the apply log: a lock entry counts only when an apply log record vouches for it.

``llmops.lock`` is a plain file in the checkout: anyone can edit it (flip a gate's
``metrics.passed``, point an output at other bytes). The apply log is hash-chained, pinned
by git history and optionally signed (compiler/audit/chain.py), and apply appends a
``landing`` record before every lock write (write-ahead: compiler/audit/applylog.py). So
every entry apply wrote is named by a record, and the latest record naming a node says
what its entry must be (only records that landed it count: ``applied``, ``gate-failed`` or
``deleted``; a record that names a node as failed, blocked or already applied describes
no write of its entry):

- a record with ``entry`` (a digest of the whole entry, ``LockEntry.digest``) vouches for
  exactly that entry; a ``landing`` record also for the entry it replaces (``previous``):
  an apply killed between its record and its lock write left that one in place;
- a record of an old log, without ``entry``, vouches for the same fingerprint, outputs
  (the md5 strings) and metrics.

Anything else (no record names the node, or the entry differs) is refused, located at
the entry in the lock. Pure: ``plan`` and ``apply`` call ``read_trusted_lock``; ``audit
verify`` reports the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.audit.applylog import APPLY_LOG_NAME, LANDING, all_records, kind_of, read_log_bytes
from compiler.audit.chain import verify_chain
from compiler.diagnostics import Diagnostic, error
from compiler.lockfile import LOCK_NAME, Lock, LockEntry, lock_bytes, locate, parse_lock

UNVOUCHED_CODE = "E303"
LOG_BROKEN_CODE = "E304"
UNVOUCHED_HINT = (f"only apply writes {LOCK_NAME}: restore it from git (git checkout -- {LOCK_NAME}); if the change is "
                  "wanted, let apply make it (remove the entry and run llmops apply)")


@dataclass(frozen=True, slots=True)
class Unvouched:
    """A lock entry no record vouches for: why, and which field of it to point at."""

    node: str
    reason: str
    path: tuple[str, ...]   # key path in the lock (node id, then field...), for the location


LANDED = frozenset({"applied", "gate-failed", "deleted"})


def latest_records(log: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Per node id, the latest record that landed it (wrote or deleted its entry), and what it says of the node."""
    latest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for record in log:
        nodes = record.get("nodes")
        if not isinstance(nodes, dict):
            continue
        for nid, named in nodes.items():
            if isinstance(named, dict) and named.get("status") in LANDED:
                latest[nid] = (record, named)
    return latest


def _md5s(outputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outputs.items() if isinstance(v, str)}


def _first_difference(mine: Any, theirs: Any) -> tuple[str, ...]:
    """The key path below which two JSON values first differ (empty when they differ at the top)."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in sorted(mine.keys() | theirs.keys(), key=str):
            if mine.get(key) != theirs.get(key):
                return (str(key), *_first_difference(mine.get(key), theirs.get(key)))
    return ()


def _differs(nid: str, entry: LockEntry, named: dict[str, Any], seq: Any) -> Unvouched:
    """Name what differs between the entry and what record ``seq`` says of it (old-format records say less)."""
    if named.get("fingerprint") is None:
        return Unvouched(nid, f"the latest apply log record naming it (record {seq}) says it is not applied", (nid,))
    if named.get("fingerprint") != entry.fingerprint:
        return Unvouched(nid, f"its fingerprint differs from the one record {seq} of the apply log vouches for",
                         (nid, "fingerprint"))
    for field, mine in (("outputs", _md5s(entry.outputs)), ("metrics", entry.metrics)):
        theirs = named.get(field)
        if isinstance(theirs, dict) and mine != theirs:
            where = _first_difference(mine, theirs)
            shown = ".".join((field, *where))
            return Unvouched(nid, f"its {shown} differs from what record {seq} of the apply log vouches for",
                             (nid, field, *where))
    return Unvouched(nid, f"its content differs from the entry record {seq} of the apply log vouches for", (nid,))


def unvouched_entries(lock: Lock, log: list[dict[str, Any]]) -> list[Unvouched]:
    """Pure: the lock entries no record of ``log`` (every record, landing ones included, in order) vouches for."""
    latest = latest_records(log)
    found: list[Unvouched] = []
    for nid in sorted(lock.nodes):
        entry = lock.nodes[nid]
        if nid not in latest:
            found.append(Unvouched(nid, "no apply log record names it: it was not written by apply", (nid,)))
            continue
        record, named = latest[nid]
        seq = record.get("seq")
        if "entry" in named:
            digest = entry.digest
            if named["entry"] == digest or (kind_of(record) == LANDING and named.get("previous") == digest):
                continue
            found.append(_differs(nid, entry, named, seq))
            continue
        same = (named.get("fingerprint") == entry.fingerprint and named.get("outputs", {}) == _md5s(entry.outputs)
                and named.get("metrics", {}) == entry.metrics)
        if not same:
            found.append(_differs(nid, entry, named, seq))
    return found


def unvouched_diagnostics(found: list[Unvouched], lock_text: str, name: str = LOCK_NAME) -> list[Diagnostic]:
    """Each unvouched entry as a diagnostic at its place in the lock."""
    diagnostics = []
    for item in found:
        line, col = locate(lock_text, item.path)
        diagnostics.append(error(name, line, col, UNVOUCHED_CODE,
                                 f"lock entry {item.node} is not vouched for by {APPLY_LOG_NAME}: {item.reason}",
                                 UNVOUCHED_HINT))
    return diagnostics


def check_state(lock: Lock, lock_raw: bytes, log_raw: bytes, key: bytes | None) -> list[Diagnostic]:
    """Pure: the lock (already parsed from ``lock_raw``) against the log's bytes; empty when every entry is vouched for."""
    report = verify_chain(log_raw, key, final=False)
    if report.problem is not None:
        p = report.problem
        return [error(APPLY_LOG_NAME, p.line or 1, 1, LOG_BROKEN_CODE,
                      f"{APPLY_LOG_NAME} is not intact ({p.how}): {p.detail}; {LOCK_NAME} cannot be checked against it",
                      f"run `llmops audit verify`; restore the log from git (git checkout -- {APPLY_LOG_NAME})")]
    if not lock.nodes:
        return []
    found = unvouched_entries(lock, all_records(log_raw))
    return unvouched_diagnostics(found, lock_raw.decode("utf-8", "replace"))


def read_trusted_lock(root: Path, key: bytes | None = None) -> tuple[Lock, list[Diagnostic]]:
    """The project's lock, with its problems: shape (compiler/lockfile.py), then trust (every entry vouched for).

    ``key`` defaults to ``LLMOPS_LOG_KEY`` from the environment.
    """
    from compiler.audit.applylog import log_key
    from compiler.safe_read import ReadRefused

    lock_raw, problems = lock_bytes(root)
    if lock_raw is None:
        return Lock(), problems  # absent (an empty lock) or unreadable (its diagnostic)
    lock, problems = parse_lock(lock_raw)
    if problems or not lock.nodes:
        return lock, problems
    try:
        log_raw = read_log_bytes(root)
    except ReadRefused as refused:
        return lock, [error(APPLY_LOG_NAME, 0, 0, LOG_BROKEN_CODE, f"the apply log {refused.message}; {LOCK_NAME} "
                            "cannot be checked against it", refused.hint)]
    return lock, check_state(lock, lock_raw, log_raw, log_key() if key is None else key)
