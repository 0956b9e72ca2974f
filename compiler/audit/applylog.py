"""The apply log ``llmops.applies.jsonl``: its format, its hashes, and reading it back.

One JSON record per line, in canonical form (sorted keys, no whitespace, UTF-8), each
carrying ``seq`` (1, 2, ...), ``prev`` (the previous record's hash) and ``hash`` (SHA-256
of the record's canonical JSON without ``hash``). A hash chain, as in a transparency
log: editing, deleting, inserting or reordering any record breaks it, and the committed
versions in git pin its length, so cutting the tail is caught as well (docs/audit.md).

Two kinds of record (``kind``). An ``apply`` record (also every record of an old log, which
has no ``kind``) closes a run with its result, gates and policy verdicts. A ``landing``
record is written ahead of each write of ``llmops.lock`` (write-ahead): it names the nodes
about to land or be deleted, each with the digest of its new lock entry (``entry``, null
for a delete) and of the one it replaces (``previous``), so every lock entry is vouched
for at every instant (compiler/state_trust.py). History readers (``records``) see the
``apply`` records; ``all_records`` gives both.

Signing (optional): when ``LLMOPS_LOG_KEY`` is set, apply stores ``sig``, an HMAC-SHA256
of the record's hash under that key, and ``verify`` (and apply, before it appends) refuses
a record without a valid one. The key is read from the environment only, never written.

Pure: the writer is ``runners/apply_log.py``; this module only formats and reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

APPLY_LOG_NAME = "llmops.applies.jsonl"
APPLY_LOG_VERSION = 1
GENESIS = "0" * 64
RESULTS = ("applied", "failed", "gate-failed", "interrupted")
APPLY, LANDING = "apply", "landing"
REQUIRED = {"who": str, "when": str, "plan_hash": str, "nodes": dict, "gates": dict, "policy": dict,
            "waivers": list, "result": str}
REQUIRED_BY_KIND = {APPLY: REQUIRED, LANDING: {"who": str, "when": str, "plan_hash": str, "nodes": dict, "run": str}}
CHAIN_FIELDS = ("log_version", "seq", "prev", "hash", "sig")
LOG_KEY_ENV = "LLMOPS_LOG_KEY"
SIG_PREFIX = "hmac-sha256:"


def canonical(value: Any) -> bytes:
    """The bytes a record is hashed and stored as: stable across machines and Python versions."""
    import orjson  # here and below, not above: ``audit log`` over a project never applied reads no record

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, its own ``hash`` and ``sig`` left out."""
    import hashlib

    return hashlib.sha256(canonical({k: v for k, v in record.items() if k not in ("hash", "sig")})).hexdigest()


def kind_of(record: dict[str, Any]) -> str:
    """``apply`` or ``landing``; a record of an old log, without ``kind``, is an ``apply`` record."""
    return record.get("kind", APPLY)


def log_key(environ: Any = None) -> bytes | None:
    """The signing key from ``LLMOPS_LOG_KEY`` (None when unset or empty)."""
    import os

    value = (os.environ if environ is None else environ).get(LOG_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def signature(record_hash_value: str, key: bytes) -> str:
    """The ``sig`` of a record whose ``hash`` is ``record_hash_value``."""
    import hmac

    return SIG_PREFIX + hmac.new(key, record_hash_value.encode("ascii"), "sha256").hexdigest()


def signature_ok(record: dict[str, Any], key: bytes) -> bool:
    import hmac

    sig, value = record.get("sig"), record.get("hash")
    return isinstance(sig, str) and isinstance(value, str) and hmac.compare_digest(sig, signature(value, key))


def check_record_fields(record: dict[str, Any]) -> list[str]:
    """What is wrong with a record apply hands over (empty when it is well formed)."""
    kind = kind_of(record)
    if kind not in REQUIRED_BY_KIND:
        return [f"kind must be one of {', '.join(REQUIRED_BY_KIND)}"]
    problems = [f"{key} must be a {type_.__name__}" for key, type_ in REQUIRED_BY_KIND[kind].items()
                if not isinstance(record.get(key), type_)]
    if "commit" not in record or not (record["commit"] is None or isinstance(record["commit"], str)):
        problems.append("commit must be a git sha or null")
    if isinstance(record.get("result"), str) and record["result"] not in RESULTS:
        problems.append(f"result must be one of {', '.join(RESULTS)}")
    if isinstance(record.get("when"), str) and not record["when"].endswith(("Z", "+00:00")):
        problems.append("when must be a UTC ISO time (ending in Z)")
    problems.extend(f"{key} is set by the log itself" for key in CHAIN_FIELDS if key in record)
    return problems


def chain_record(record: dict[str, Any], seq: int, prev: str, key: bytes | None = None) -> bytes:
    """The stored line (with its newline) for ``record`` appended after a record of hash ``prev``; signed with ``key``."""
    stored = {**record, "log_version": APPLY_LOG_VERSION, "seq": seq, "prev": prev}
    stored["hash"] = record_hash(stored)
    if key is not None:
        stored["sig"] = signature(stored["hash"], key)
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
    """The log's bytes; an absent log is an empty one (nothing applied yet).

    A log that is not a regular file of the repository, or is above the state cap, raises
    ``ReadRefused`` (the CLI tells it as the file's problem, with a hint).
    """
    from compiler.safe_read import read_state

    return read_state(root, APPLY_LOG_NAME) or b""


def all_records(raw: bytes) -> list[dict[str, Any]]:
    """Every parsed record, ``landing`` ones included, in file order (unparsable lines skipped: ``verify`` reports them)."""
    return [line.record for line in split_lines(raw) if line.record is not None]


def records(raw: bytes) -> list[dict[str, Any]]:
    """The ``apply`` records (one per run) in file order: what history readers (log, report, lineage) read."""
    return [record for record in all_records(raw) if kind_of(record) == APPLY]
