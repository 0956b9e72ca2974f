"""``audit verify``: the apply log checked on its own and against every version git holds."""

from __future__ import annotations

from pathlib import Path

from compiler.audit.applylog import APPLY_LOG_NAME, read_log_bytes
from compiler.audit.chain import ChainReport, verify_log
from compiler.audit.git import Repo, file_versions, head_exists


def verify_apply_log(root: Path, repo: Repo | None) -> ChainReport:
    """The working tree's log against itself and, in a repository, against its committed versions."""
    committed = file_versions(repo, repo.path(APPLY_LOG_NAME)) if repo is not None and head_exists(repo) else []
    return verify_log(read_log_bytes(root), committed)
