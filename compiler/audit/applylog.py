"""The apply log ``llmops.applies.jsonl``: its format, its hashes, and reading it back.

One JSON record per line, in canonical form (sorted keys, no whitespace, UTF-8), each
carrying ``seq`` (1, 2, ...), ``prev`` (the previous record's hash) and ``hash`` (SHA-256
of the record's canonical JSON without ``hash``). A hash chain, as in a transparency
log: editing, deleting, inserting or reordering any record breaks it, and the committed
versions in git pin its length, so cutting the tail is caught as well (docs/audit.md).

Pure: the writer is ``runners/apply_log.py``; this module only formats and reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

APPLY_LOG_NAME = "llmops.applies.jsonl"
APPLY_LOG_VERSION = 1
GENESIS = "0" * 64
RESULTS = ("applied", "failed", "gate-failed", "interrupted")
REQUIRED = {"who": str, "when": str, "plan_hash": str, "nodes": dict, "gates": dict, "policy": dict,
            "waivers": list, "result": str}
CHAIN_FIELDS = ("log_version", "seq", "prev", "hash")


def canonical(value: Any) -> bytes:
    """The bytes a record is hashed and stored as: stable across machines and Python versions."""
    import orjson  # here and below, not above: ``audit log`` over a project never applied reads no record

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, its own ``hash`` left out."""
    import hashlib

    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def check_record_fields(record: dict[str, Any]) -> list[str]:
    """What is wrong with a record apply hands over (empty when it is well formed)."""
    problems = [f"{key} must be a {kind.__name__}" for key, kind in REQUIRED.items()
                if not isinstance(record.get(key), kind)]
    if "commit" not in record or not (record["commit"] is None or isinstance(record["commit"], str)):
        problems.append("commit must be a git sha or null")
    if isinstance(record.get("result"), str) and record["result"] not in RESULTS:
        problems.append(f"result must be one of {', '.join(RESULTS)}")
    if isinstance(record.get("when"), str) and not record["when"].endswith(("Z", "+00:00")):
        problems.append("when must be a UTC ISO time (ending in Z)")
    problems.extend(f"{key} is set by the log itself" for key in CHAIN_FIELDS if key in record)
    return problems


def chain_record(record: dict[str, Any], seq: int, prev: str) -> bytes:
    """The stored line (with its newline) for ``record`` appended after a record of hash ``prev``."""
    stored = {**record, "log_version": APPLY_LOG_VERSION, "seq": seq, "prev": prev}
    stored["hash"] = record_hash(stored)
    return canonical(stored) + b"\n"


class LogLine(NamedTuple):
    """One line of the log as found: its 1-based line number, bytes, and the record if it parses."""

    number: int
    raw: bytes
    record: dict[str, Any] | None
    complete: bool  # ends with a newline: a line cut short by a crash or an edit does not


def split_lines(raw: bytes) -> list[LogLine]:
    """Every non-empty line of the log, parsed where it parses."""
    lines: list[LogLine] = []
    if not raw.strip():
        return lines
    import orjson

    chunks = raw.split(b"\n")
    for index, chunk in enumerate(chunks):
        if not chunk.strip():
            continue
        try:
            record = orjson.loads(chunk)
        except orjson.JSONDecodeError:
            record = None
        lines.append(LogLine(index + 1, chunk, record if isinstance(record, dict) else None, index < len(chunks) - 1))
    return lines


def read_log_bytes(root: Path) -> bytes:
    """The log's bytes; an absent log is an empty one (nothing applied yet)."""
    try:
        return (root / APPLY_LOG_NAME).read_bytes()
    except FileNotFoundError:
        return b""


def records(raw: bytes) -> list[dict[str, Any]]:
    """The parsed records in file order (unparsable lines skipped: ``verify`` reports them)."""
    return [line.record for line in split_lines(raw) if line.record is not None]
