"""``audit verify``: the apply log checked on its own, against every version git holds, and against the lock.

With ``LLMOPS_LOG_KEY`` set, signatures are checked too (compiler/audit/chain.py). When the
chain holds, every entry of ``llmops.lock`` must be vouched for by a record
(compiler/state_trust.py); the first that is not is reported as ``unvouched``.
"""

from __future__ import annotations

from pathlib import Path

from compiler.audit.applylog import APPLY_LOG_NAME, all_records, log_key, read_log_bytes
from compiler.audit.chain import ChainProblem, ChainReport, verify_log
from compiler.audit.git import Repo, file_versions, head_exists


def verify_apply_log(root: Path, repo: Repo | None, key: bytes | None = None) -> ChainReport:
    """The working tree's log against itself, its committed versions (in a repository) and the lock."""
    committed = file_versions(repo, repo.path(APPLY_LOG_NAME)) if repo is not None and head_exists(repo) else []
    raw = read_log_bytes(root)
    report = verify_log(raw, committed, log_key() if key is None else key)
    if report.problem is not None:
        return report
    problem = _lock_problem(root, raw)
    return report if problem is None else ChainReport(report.records, report.head, problem, report.commits_checked)


def _lock_problem(root: Path, raw: bytes) -> ChainProblem | None:
    from compiler.lockfile import LOCK_NAME, lock_bytes, locate, parse_lock
    from compiler.state_trust import unvouched_entries

    lock_raw, problems = lock_bytes(root)
    lock, parsed = parse_lock(lock_raw) if lock_raw is not None else (None, [])
    if problems or parsed:
        return ChainProblem("unvouched", f"{LOCK_NAME} does not read: {(problems or parsed)[0].message}")
    found = unvouched_entries(lock, all_records(raw)) if lock is not None else []
    if not found:
        return None
    text = lock_raw.decode("utf-8", errors="replace")
    shown = "; ".join(f"{item.node} ({LOCK_NAME}:{':'.join(map(str, locate(text, item.path)))}): {item.reason}"
                      for item in found[:5])
    more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
    return ChainProblem("unvouched", f"{len(found)} {LOCK_NAME} entr{'ies' if len(found) > 1 else 'y'} no record "
                                     f"vouches for: {shown}{more}; the log is intact, the lock was edited outside "
                                     f"apply: restore it from git (git checkout -- {LOCK_NAME})")
