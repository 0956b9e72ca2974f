"""Appending to the apply log: one hash-chained record per apply, written atomically.

Apply calls ``append_record`` once per run, under ``state_guard`` (one writer at a time).
The whole file is rewritten through a temp file, fsync and rename, so a crash leaves the
old log or the new one, never half a line. A log whose chain is already broken is not
extended: a new record would seem to vouch for the tampered ones before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from compiler.audit.applylog import APPLY_LOG_NAME, GENESIS, chain_record, check_record_fields, read_log_bytes
from compiler.audit.chain import verify_chain
from runners.files import write_atomic


class ApplyLogBroken(Exception):
    """The apply log fails verification; nothing is appended until a person looks at it."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{APPLY_LOG_NAME} is not intact: {detail}")
        self.hint = ("run `llmops audit verify` to see where; restore the log from git "
                     f"(git checkout -- {APPLY_LOG_NAME}) if the change was not intended")


def append_record(root: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Append ``record`` to ``root``'s apply log (call under ``state_guard``); returns the stored record."""
    problems = check_record_fields(record)
    if problems:
        raise ValueError(f"apply log record: {'; '.join(problems)}")
    raw = read_log_bytes(root)
    report = verify_chain(raw)
    if report.problem is not None:
        raise ApplyLogBroken(report.problem.detail)
    if raw and not raw.endswith(b"\n"):
        raw += b"\n"
    line = chain_record(record, report.records + 1, report.head or GENESIS)
    write_atomic(root / APPLY_LOG_NAME, (raw + line).decode("utf-8"))
    return orjson.loads(line)
