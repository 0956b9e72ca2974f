"""Appending to the apply log: hash-chained records, written atomically, signed when a key is set.

Apply holds one ``LogWriter`` for its run, under ``state_guard`` (one writer at a time): it
reads and verifies the log once, then appends a ``landing`` record before each lock write
(write-ahead, see compiler/audit/applylog.py) and the run's ``apply`` record at the end.
The whole file is rewritten through a temp file, fsync and rename, so a crash leaves the
old log or the new one, never half a line. A log whose chain is already broken (or, with
``LLMOPS_LOG_KEY`` set, holds a record without a valid signature) is not extended: a new
record would seem to vouch for the tampered ones before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from compiler.audit.applylog import APPLY_LOG_NAME, GENESIS, chain_record, check_record_fields, log_key, read_log_bytes
from compiler.audit.chain import verify_chain
from compiler.llmops_dir import llmops_dir
from runners.files import write_atomic


class ApplyLogBroken(Exception):
    """The apply log fails verification; nothing is appended until a person looks at it."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{APPLY_LOG_NAME} is not intact: {detail}")
        self.hint = ("run `llmops audit verify` to see where; restore the log from git "
                     f"(git checkout -- {APPLY_LOG_NAME}) if the change was not intended")


class LogWriter:
    """The apply log as one apply keeps it: verified once, then extended record by record.

    ``key`` signs each record (default: ``LLMOPS_LOG_KEY``; never written anywhere).
    """

    def __init__(self, root: Path, key: bytes | None = None) -> None:
        self.root = root
        self.key = log_key() if key is None else key
        raw = read_log_bytes(root)
        report = verify_chain(raw, self.key, final=False)
        if report.problem is not None:
            raise ApplyLogBroken(report.problem.detail)
        if raw and not raw.endswith(b"\n"):
            raw += b"\n"
        self._raw = raw
        self._count = report.records
        self._head = report.head or GENESIS

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append ``record`` in one atomic write; returns the stored record."""
        problems = check_record_fields(record)
        if problems:
            raise ValueError(f"apply log record: {'; '.join(problems)}")
        line = chain_record(record, self._count + 1, self._head, self.key)
        write_atomic(self.root / APPLY_LOG_NAME, (self._raw + line).decode("utf-8"), llmops_dir(self.root, "tmp"))
        stored = orjson.loads(line)
        self._raw += line
        self._count += 1
        self._head = stored["hash"]
        return stored


def landing_record(run: str, who: str, commit: str | None, plan_hash: str, entries: dict[str, Any],
                   before: dict[str, Any], statuses: dict[str, str], actions: dict[str, str]) -> dict[str, Any]:
    """The write-ahead record for lock entries about to be written (an entry None: about to be deleted).

    Each node carries the digest of its new entry (``entry``) and of the one it replaces
    (``previous``): compiler/state_trust.py accepts either, as a crash may fall between
    this record and the lock write.
    """
    import time

    nodes = {}
    for nid, entry in entries.items():
        old = before.get(nid)
        nodes[nid] = {"fingerprint": entry.fingerprint if entry else None, "status": statuses[nid], "action": actions.get(nid),
                      "outputs": {k: v for k, v in (entry.outputs if entry else {}).items() if isinstance(v, str)},
                      "metrics": entry.metrics if entry else {}, "entry": entry.digest if entry else None,
                      "previous": old.digest if old else None}
    return {"kind": "landing", "run": run, "who": who, "commit": commit, "plan_hash": plan_hash, "nodes": nodes,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def append_record(root: Path, record: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    """Append ``record`` to ``root``'s apply log (call under ``state_guard``); returns the stored record."""
    problems = check_record_fields(record)
    if problems:
        raise ValueError(f"apply log record: {'; '.join(problems)}")
    return LogWriter(root, key).append(record)
