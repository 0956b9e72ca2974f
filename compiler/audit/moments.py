"""Moments in an audit: ``--at`` as a time or a commit, and what the apply log says held then."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from compiler.audit.git import Repo, resolve_commit

DONE = "applied"          # a node status meaning its work ran and its outputs are current
REMOVED = "deleted"


def parse_time(text: str) -> datetime | None:
    """An ISO time (naive means UTC), or a date meaning the end of that day; None when it is neither."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) <= 10:  # a bare date: what held at the end of that day
        value = datetime.combine(value.date(), time(23, 59, 59))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(record: dict[str, Any]) -> datetime:
    return parse_time(str(record.get("when", ""))) or datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Moment:
    """The instant a question is about; ``commit`` when it was given as one."""

    at: datetime
    commit: str | None = None
    label: str = "now"

    @property
    def iso(self) -> str:
        return self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_moment(repo: Repo, text: str | None, records: list[dict[str, Any]], now: datetime | None = None) -> Moment:
    """``--at``: a time, or a commit meaning "once it was applied" (its last apply, else its commit time)."""
    if text is None:
        return Moment(now or datetime.now(UTC))
    at = parse_time(text)
    if at is not None:
        return Moment(at, None, text)
    sha = resolve_commit(repo, text)
    if sha is None:
        raise ValueError(f"--at {text!r} is neither a time (2026-11-25T10:00:00Z, 2026-11-25) nor a commit")
    applies = [when(r) for r in records if r.get("commit") == sha]
    if applies:
        return Moment(max(applies), sha, f"{text} (once applied)")
    stamp = int(repo.git("show", "-s", "--format=%ct", sha).decode().strip())
    return Moment(datetime.fromtimestamp(stamp, UTC), sha, f"{text} (committed, never applied)")


@dataclass
class NodeState:
    """What the apply log says a node held at a moment: the last run that did its work."""

    node: str
    fingerprint: str
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    when: str = ""
    who: str = ""
    commit: str | None = None


def state_at(records: list[dict[str, Any]], at: datetime) -> dict[str, NodeState]:
    """Pure: replay the records up to ``at``; a node keeps its last applied run, a deleted one drops out."""
    state: dict[str, NodeState] = {}
    for record in records:
        if when(record) > at:
            continue
        for node, entry in (record.get("nodes") or {}).items():
            status = entry.get("status") if isinstance(entry, dict) else None
            if status == REMOVED or entry.get("action") == "delete":
                state.pop(node, None)
            elif status == DONE:
                state[node] = _node_state(node, entry, record)
    return state


def _node_state(node: str, entry: dict[str, Any], record: dict[str, Any]) -> NodeState:
    return NodeState(node, str(entry.get("fingerprint", "")), dict(entry.get("outputs") or {}),
                     dict(entry.get("metrics") or {}), int(record.get("seq", 0)), str(record.get("when", "")),
                     str(record.get("who", "")), record.get("commit"))


def runs_until(records: list[dict[str, Any]], at: datetime) -> dict[tuple[str, str], NodeState]:
    """Pure: (node, fingerprint) -> its last run up to ``at`` that produced something (a failed gate did: a verdict)."""
    runs: dict[tuple[str, str], NodeState] = {}
    for record in records:
        if when(record) > at:
            continue
        for node, entry in (record.get("nodes") or {}).items():
            if isinstance(entry, dict) and entry.get("status") in (DONE, "gate-failed") and entry.get("fingerprint"):
                runs[(node, str(entry["fingerprint"]))] = _node_state(node, entry, record)
    return runs


def gates_at(records: list[dict[str, Any]], at: datetime) -> dict[str, dict[str, Any]]:
    """Pure: each gate's last verdict up to ``at``, with the record that judged it."""
    verdicts: dict[str, dict[str, Any]] = {}
    for record in records:
        if when(record) <= at:
            for ref, verdict in (record.get("gates") or {}).items():
                verdicts[ref] = {**(verdict if isinstance(verdict, dict) else {"verdict": verdict}),
                                 "seq": record.get("seq"), "when": record.get("when")}
    return verdicts
