"""Verifying the apply log's hash chain: the first bad record, and how it went bad.

Two checks, both pure. ``verify_chain`` reads the log alone: every record must match its
own hash, number ``seq`` one after the other, and name the previous record's hash as
``prev``. That catches an edit, a deleted or inserted record and a reordering anywhere
but at the very end. ``verify_against_commits`` closes the rest: every version of the log
committed to git must be a prefix of the current one, so cutting the tail, or rewriting
the whole chain with fresh hashes, shows against the last commit that held the records.

What neither can catch, a record appended at the tail with correct hashes, the signing
key closes: with ``LLMOPS_LOG_KEY`` set, every record from the first signed one on must
carry a valid ``sig`` (an HMAC only a holder of the key can make), and the log must end
with a signed record. Records before the first signed one are a log's unsigned past,
pinned by the signed record whose chain covers them (docs/audit.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.audit.applylog import (APPLY_LOG_VERSION, CHAIN_FIELDS, GENESIS, LOG_KEY_ENV, LogLine, record_hash,
                                     signature_ok, split_lines)

HOW = ("edited", "deleted", "inserted", "reordered", "truncated", "unsupported", "unsigned", "forged", "unvouched")


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place the log stops being the one apply wrote."""

    how: str                    # one of HOW
    detail: str
    line: int | None = None     # line of the current log the problem is seen at
    seq: int | None = None      # the record's number, where known
    commit: str | None = None   # the commit whose version of the log disagrees, for history checks

    def to_dict(self) -> dict[str, Any]:
        return {"how": self.how, "detail": self.detail, "line": self.line, "seq": self.seq, "commit": self.commit}


@dataclass(frozen=True)
class ChainReport:
    records: int
    head: str | None            # hash of the last record, the value to compare with another copy
    problem: ChainProblem | None
    commits_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "head": self.head, "commits_checked": self.commits_checked,
                "problem": self.problem.to_dict() if self.problem else None}


def _seq(line: LogLine) -> Any:
    return line.record.get("seq") if line.record is not None else None


def _out_of_place(lines: list[LogLine], index: int, expected: int, seen: dict[int, LogLine]) -> ChainProblem:
    """Why the record at ``index`` is not record ``expected``: deleted, reordered or inserted."""
    line = lines[index]
    seq = _seq(line)
    if seq > expected:
        later = {_seq(other) for other in lines[index + 1:]}
        if any(missing in later for missing in range(expected, seq)):
            return ChainProblem("reordered", f"record {seq} is at line {line.number}, where record {expected} belongs",
                                line.number, seq)
        gone = f"record {expected}" if seq == expected + 1 else f"records {expected} to {seq - 1}"
        return ChainProblem("deleted", f"{gone} missing before line {line.number}", line.number, expected)
    earlier = seen.get(seq)
    if earlier is None:
        return ChainProblem("reordered", f"record {seq} is at line {line.number}, after record {expected - 1}",
                            line.number, seq)
    following = lines[index + 1].record if index + 1 < len(lines) else None
    same = earlier.record is not None and earlier.record.get("hash") == line.record.get("hash")
    forged = line if same or following is None or following.get("prev") != line.record.get("hash") else earlier
    return ChainProblem("inserted", f"two records claim number {seq} (lines {earlier.number} and {line.number}); "
                                    f"the chain goes on from the other one, so line {forged.number} was inserted",
                        forged.number, seq)


def _signature_problem(line: LogLine, seq: int, key: bytes, signed_since: int | None) -> ChainProblem | None:
    """Why a record fails the key: a signature that does not verify, or none after signed records."""
    record = line.record
    assert record is not None
    if "sig" in record:
        if signature_ok(record, key):
            return None
        return ChainProblem("forged", f"record {seq} (line {line.number}) has a signature that does not verify with "
                                      f"{LOG_KEY_ENV}: it was not written by an apply holding the key", line.number, seq)
    if signed_since is not None:
        return ChainProblem("unsigned", f"record {seq} (line {line.number}) carries no signature, but {LOG_KEY_ENV} is set "
                                        f"and records from {signed_since} on are signed: it was not written by apply",
                            line.number, seq)
    return None


def verify_chain(raw: bytes, key: bytes | None = None, final: bool = True) -> ChainReport:
    """Check the log's bytes on their own; the report names the first problem found.

    With ``key``, signatures are checked too; ``final`` also asks that the log end with a
    signed record (``verify``; apply, about to append a signed record, asks less).
    """
    lines = split_lines(raw)
    prev, expected = GENESIS, 1
    seen: dict[int, LogLine] = {}
    signed_since: int | None = None
    for index, line in enumerate(lines):
        record = line.record
        if record is None:
            if index == len(lines) - 1 and not line.complete:
                problem = ChainProblem("truncated", f"line {line.number} is cut short: the log ends inside a record",
                                       line.number, expected)
            else:
                problem = ChainProblem("edited", f"line {line.number} is not a JSON record", line.number, expected)
            return ChainReport(expected - 1, prev if expected > 1 else None, problem)
        seq = record.get("seq")
        if isinstance(record.get("log_version"), int) and record["log_version"] > APPLY_LOG_VERSION:
            return ChainReport(expected - 1, prev, ChainProblem(
                "unsupported", f"record at line {line.number} is log version {record['log_version']}; "
                               f"this llmops reads {APPLY_LOG_VERSION}: upgrade llmops-spec", line.number, seq))
        if record.get("hash") != record_hash(record) or not isinstance(seq, int) or isinstance(seq, bool):
            return ChainReport(expected - 1, prev, ChainProblem(
                "edited", f"record {seq} (line {line.number}) does not match its own hash: its content was changed",
                line.number, seq if isinstance(seq, int) else None))
        if seq != expected:
            return ChainReport(expected - 1, prev, _out_of_place(lines, index, expected, seen))
        if record.get("prev") != prev:
            if expected == 1:
                problem = ChainProblem("deleted", f"the first record (line {line.number}) does not start the chain: "
                                                  "records before it were removed", line.number, seq)
            else:
                before = seen[expected - 1]
                problem = ChainProblem("edited", f"record {expected - 1} (line {before.number}) was changed and re-hashed: "
                                                 f"record {seq} recorded another hash for it", before.number, expected - 1)
            return ChainReport(expected - 1, prev, problem)
        if key is not None:
            problem = _signature_problem(line, seq, key, signed_since)
            if problem is not None:
                return ChainReport(expected - 1, prev if expected > 1 else None, problem)
            if signed_since is None and "sig" in record:
                signed_since = seq
        seen[seq] = line
        prev, expected = record["hash"], expected + 1
    if key is not None and final and lines and "sig" not in (lines[-1].record or {}):
        last = lines[-1]
        return ChainReport(expected - 2, None, ChainProblem(
            "unsigned", f"the last record ({expected - 1}, line {last.number}) carries no signature, but {LOG_KEY_ENV} "
                        "is set: a log apply signs ends with a signed record", last.number, expected - 1))
    return ChainReport(expected - 1, prev if expected > 1 else None, None)


def _payload(record: dict[str, Any] | None) -> bytes:
    """A record without its chain fields: what stays the same when a chain is renumbered and re-hashed."""
    if record is None:
        return b""
    return record_hash({k: v for k, v in record.items() if k not in CHAIN_FIELDS}).encode()


def verify_against_commits(raw: bytes, committed: list[tuple[str, bytes]]) -> ChainProblem | None:
    """Every committed version (commit sha, bytes), newest first, must be a prefix of ``raw``.

    The newest version decides: older ones are prefixes of it when git history holds an
    append-only log, and any that is not is reported too (its own commit named).
    """
    current = split_lines(raw)
    for commit, old_raw in committed:
        old = split_lines(old_raw)
        for k, old_line in enumerate(old):
            now = current[k] if k < len(current) else None
            if now is not None and now.raw == old_line.raw:
                continue
            short = commit[:12]
            if now is None:
                return ChainProblem("truncated", f"commit {short} holds {len(old)} records; the log now holds "
                                                 f"{len(current)}: the records after {len(current)} were removed",
                                    None, len(current) + 1, commit)
            payloads = [_payload(line.record) for line in current]
            mine = _payload(old_line.record)
            following = _payload(old[k + 1].record) if k + 1 < len(old) else None
            if mine in payloads[k + 1:]:
                how = "reordered" if following == payloads[k] else "inserted"
                detail = (f"record {k + 1} of commit {short} has moved to line {current[payloads.index(mine, k + 1)].number}"
                          if how == "reordered" else f"records were inserted before record {k + 1} of commit {short}")
            elif following is not None and following == payloads[k]:
                how, detail = "deleted", f"record {k + 1} of commit {short} was removed"
            else:
                how, detail = "edited", f"record {k + 1} differs from the one committed in {short}"
            return ChainProblem(how, detail + " (the chain was rewritten to hide it)", now.number, k + 1, commit)
    return None


def verify_log(raw: bytes, committed: list[tuple[str, bytes]], key: bytes | None = None) -> ChainReport:
    """Both checks; the chain's own problems come first, as they name the exact line."""
    report = verify_chain(raw, key)
    if report.problem is not None:
        return ChainReport(report.records, report.head, report.problem, len(committed))
    return ChainReport(report.records, report.head, verify_against_commits(raw, committed), len(committed))
