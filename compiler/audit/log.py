"""``audit log``: the spec history with policy verdicts at each commit and the applies that followed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from compiler.audit.applylog import read_log_bytes, records
from compiler.audit.commit_cache import CommitCache
from compiler.audit.git import Repo
from compiler.audit.history import SpecCommit, is_bookkeeping, iso, matching, spec_history
from compiler.audit.snapshot import BlobCache

if TYPE_CHECKING:  # the policy engine is imported only when verdicts are asked for
    from compiler.audit.at_commit import PolicyVerdict


class LogEntry(NamedTuple):
    spec: SpecCommit
    policy: PolicyVerdict | None
    applies: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "policy": self.policy.to_dict() if self.policy else None,
                "applies": [apply_summary(r) for r in self.applies]}


def apply_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of an apply record a history reader wants (the full record stays in the log)."""
    nodes = record.get("nodes") or {}
    return {"seq": record.get("seq"), "when": record.get("when"), "who": record.get("who"),
            "result": record.get("result"), "plan_hash": record.get("plan_hash"),
            "nodes": {nid: n.get("status") for nid, n in nodes.items() if isinstance(n, dict)},
            "gates": record.get("gates") or {}, "waivers": record.get("waivers") or []}


def audit_log(repo: Repo, root: Path, since: str | None = None, until: str | None = None, kind: str | None = None,
              name: str | None = None, policies: bool = True, cache_root: Path | None = None,
              policy_reports: bool = True) -> list[LogEntry]:
    """Newest first: commits that changed the specs or their data, filtered to ``kind`` and ``name``."""
    commits = CommitCache.load(cache_root, repo.prefix) if cache_root is not None else None
    history = [m for entry in spec_history(repo, BlobCache.load(cache_root), "HEAD", since, until, commits)
               if not is_bookkeeping(entry) and (m := matching(entry, kind, name)) is not None]
    applied: dict[str, list[dict[str, Any]]] = {}
    for record in records(read_log_bytes(root)):
        applied.setdefault(str(record.get("commit")), []).append(record)
    verdicts: dict[str, PolicyVerdict] = {}
    if policies:
        from compiler.audit.at_commit import PolicyCache, policy_verdicts

        wanted = [(e.commit.sha, iso(e.commit.committed)[:10]) for e in history if e.spec_files]
        verdicts = policy_verdicts(repo, wanted, PolicyCache(cache_root), reports=policy_reports)
    return [LogEntry(e, verdicts.get(e.commit.sha), tuple(applied.get(e.commit.sha, ()))) for e in history]
