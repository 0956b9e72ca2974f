"""The state files in a pull request: ``llmops.lock`` and the apply log are written by apply on main, never by a PR.

``policy check --base REV`` compares both files at the base revision with the working
tree. Every change is a finding at error severity:

- ``Policy/lock-written-by-apply`` (P300): one finding per resource whose lock entries were
  added, edited or removed, located at its first changed entry;
- ``Policy/apply-log-written-by-apply`` (P301): one finding per resource named by a record
  that was appended, edited or removed, located at the first line that differs; a change
  that names no resource (a record of an empty run, a rewritten header) is one finding
  with no resource;
- ``Policy/remote-changed`` (P302): the DVC remote configuration (``.dvc/config``: the
  default remote, a remote's URL, endpoint or any option) differs. It is not apply's to
  write, but it says where apply on main sends signed requests with its credentials and
  where it pulls artifacts from, so changing it needs an explicit sign-off: a Waiver.

A migration (a lock-format upgrade, a re-keyed log) is waived like any finding, by a Waiver
of that policy naming the resources (``Kind/name``); a finding without a resource is
waived by any in-force Waiver of its policy. Everything here is pure but ``state_at``,
which reads the two files of a commit through git.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from compiler.audit.applylog import APPLY_LOG_NAME, split_lines
from compiler.diagnostics import Severity
from compiler.dvc_config import read_remote_config
from compiler.lockfile import LOCK_NAME, locate, parse_lock
from compiler.policy.report import Finding
from compiler.policy.waivers import Waiver
from llmops_spec import Ref

LOCK_RULE, LOCK_CODE = "lock-written-by-apply", "P300"
LOG_RULE, LOG_CODE = "apply-log-written-by-apply", "P301"
REMOTE_RULE, REMOTE_CODE = "remote-changed", "P302"
STATE_RULES = frozenset({LOCK_RULE, LOG_RULE, REMOTE_RULE})
DVC_CONFIG = ".dvc/config"
NO_RESOURCE = Ref("Policy", "state")  # the resource of a finding that names none (see the module's docstring)
HINT = ("only apply on main writes {file}: drop the change (git checkout {base} -- {file}); for a deliberate "
        "migration, add a Waiver of Policy/{rule} naming {what}, with its owner, reason and expiry")
REMOTE_HINT = ("apply on main pushes and pulls artifacts, with its credentials, where {file} says: drop the change "
               "(git checkout {base} -- {file}); if the remote really moves, add a Waiver of Policy/{rule} with "
               "its owner (who owns the remote), reason and expiry")


@dataclass(frozen=True, slots=True)
class StateChange:
    """One resource's changes in one state file (``resource`` None: a change that names no resource)."""

    rule: str
    resource: str | None
    detail: str
    line: int
    col: int


def _resource_of(node_id: str) -> str:
    return node_id.rsplit(":", 1)[0]


def lock_changes(base: bytes | None, head: bytes | None) -> list[StateChange]:
    """Pure: per resource, how llmops.lock differs between two versions (None: the file is absent)."""
    if (base or b"") == (head or b""):
        return []
    before, bad_before = parse_lock(base) if base is not None else (None, [])
    after, bad_after = parse_lock(head) if head is not None else (None, [])
    if bad_before or bad_after:  # one side does not read: the whole file changed
        return [StateChange(LOCK_RULE, None, f"{LOCK_NAME} was rewritten (it does not read on one side)", 1, 1)]
    old = before.nodes if before else {}
    new = after.nodes if after else {}
    text = (head or b"").decode("utf-8", "replace")
    found: dict[str, StateChange] = {}
    for nid in sorted(old.keys() | new.keys()):
        a, b = old.get(nid), new.get(nid)
        if a is not None and b is not None and a.to_dict() == b.to_dict():
            continue
        how = "added" if a is None else "removed" if b is None else "edited"
        resource = (b or a).resource
        line, col = locate(text, (nid,)) if b is not None else (1, 1)
        if resource in found:
            continue  # the first changed entry of a resource locates its finding
        found[resource] = StateChange(LOCK_RULE, resource, f"lock entry {nid} {how}", line, col)
    if not found:  # the same entries, other bytes (formatting): still not apply's writing
        return [StateChange(LOCK_RULE, None, f"{LOCK_NAME} was reformatted", 1, 1)]
    return list(found.values())


def log_changes(base: bytes | None, head: bytes | None) -> list[StateChange]:
    """Pure: per resource, the apply log records appended, edited or removed between two versions."""
    if (base or b"") == (head or b""):
        return []
    old, new = split_lines(base or b""), split_lines(head or b"")
    same = 0
    while same < min(len(old), len(new)) and old[same].raw == new[same].raw:
        same += 1
    line = new[same].number if same < len(new) else (new[-1].number if new else 1)
    changed = [*old[same:], *new[same:]]
    found: dict[str | None, StateChange] = {}
    for item in changed:
        nodes = item.record.get("nodes") if item.record else None
        names = sorted({_resource_of(n) for n in nodes}) if isinstance(nodes, dict) and nodes else [None]
        seq = item.record.get("seq") if item.record else None
        for resource in names:
            if resource not in found:
                detail = f"apply log record {seq if seq is not None else '?'} (line {item.number}) appended, edited or removed"
                found[resource] = StateChange(LOG_RULE, resource, detail, line, 1)
    return list(found.values()) or [StateChange(LOG_RULE, None, f"{APPLY_LOG_NAME} was rewritten", line, 1)]


def _remote_settings(raw: bytes | None) -> tuple[dict[str, dict[str, str]], dict[str, int]]:
    """The remote-related sections of a DVC config (``core``'s remote, every ``remote "x"``), and their lines."""
    text = (raw or b"").decode("utf-8", "replace")
    config = read_remote_config(text)
    if config is None:
        return {"": {"unreadable": text}}, {}
    settings = {f'remote "{name}"': options for name, options in config.remotes.items()}
    if config.core is not None:
        settings["core"] = config.core
    return settings, config.lines


def remote_changes(base: bytes | None, head: bytes | None) -> list[StateChange]:
    """Pure: how the DVC remote configuration differs between two versions of ``.dvc/config`` (None: absent).

    Only where artifacts go counts (the default remote and the remotes' sections); other
    settings (``core.autostage``, a cache type) are not findings.
    """
    if (base or b"") == (head or b""):
        return []
    (old, _), (new, lines) = _remote_settings(base), _remote_settings(head)
    changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    if not changed:
        return []
    first = changed[0]
    shown = ", ".join(f"[{name}] {'added' if name not in old else 'removed' if name not in new else 'edited'}"
                      for name in changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
    return [StateChange(REMOTE_RULE, None, f"the DVC remote configuration changed: {shown}", lines.get(first, 1), 1)]


def _waiver_for(change: StateChange, waivers: Iterable[Waiver], today: dt.date) -> Waiver | None:
    for waiver in sorted(waivers, key=lambda w: (w.expires, w.name), reverse=True):
        if waiver.policy != change.rule or waiver.expired(today):
            continue
        if change.resource is None or any(str(ref) == change.resource for ref in waiver.resources):
            return waiver
    return None


_FILES = {LOCK_RULE: (LOCK_NAME, LOCK_CODE), LOG_RULE: (APPLY_LOG_NAME, LOG_CODE), REMOTE_RULE: (DVC_CONFIG, REMOTE_CODE)}


def state_findings(changes: list[StateChange], waivers: Iterable[Waiver], today: dt.date, base: str) -> list[Finding]:
    """Pure: each change as an error-severity finding, waived where a Waiver of its policy covers it."""
    waivers = list(waivers)
    findings = []
    for change in changes:
        file, code = _FILES[change.rule]
        what = change.resource or "any resource (this change names none)"
        resource = Ref.parse(change.resource) if change.resource and "/" in change.resource else NO_RESOURCE
        waiver = _waiver_for(change, waivers, today)
        if change.rule == REMOTE_RULE:
            message = f"{file} changed in this pull request: {change.detail}"
            hint = REMOTE_HINT.format(file=file, base=base, rule=change.rule)
        else:
            message = f"{file} changed in this pull request: {change.detail}; only apply writes it"
            hint = HINT.format(file=file, base=base, rule=change.rule, what=what)
        findings.append(Finding(change.rule, code, Severity.ERROR, resource, message, file, change.line, change.col,
                                hint, waiver.name if waiver else None))
    return findings


def state_at(root, rev: str) -> tuple[bytes | None, bytes | None, bytes | None]:  # noqa: ANN001 - a Path
    """llmops.lock, the apply log and .dvc/config where the pull request left ``rev``: at the merge base of ``rev`` and HEAD.

    The merge base, not ``rev`` itself: a branch made before main's last apply holds main's
    older lock, which it did not change. (A checkout of GitHub's merge commit has ``rev``
    itself as the merge base.) None where that commit holds no such file.
    """
    from compiler.audit.git import GitError, open_repo, resolve_commit

    repo = open_repo(root)
    sha = resolve_commit(repo, rev)
    if sha is None:
        raise GitError(f"--base {rev} names no commit", "fetch the base branch (actions/checkout fetch-depth: 0)")
    if repo.head is not None:
        sha = repo.git("merge-base", sha, repo.head, check=False).decode().strip() or sha
    out = []
    for name in (LOCK_NAME, APPLY_LOG_NAME, DVC_CONFIG):
        path = repo.path(name)
        listed = repo.git("ls-tree", "--name-only", sha, "--", path)
        out.append(repo.git("cat-file", "blob", f"{sha}:{path}") if listed.strip() else None)
    return out[0], out[1], out[2]


def read_state(root) -> tuple[bytes | None, bytes | None, bytes | None]:  # noqa: ANN001 - a Path
    """The three files in the working tree (None where absent)."""
    from compiler.safe_read import read_state

    return read_state(root, LOCK_NAME), read_state(root, APPLY_LOG_NAME), read_state(root, DVC_CONFIG)
