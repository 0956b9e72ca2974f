"""The project as it was at a commit: its tree extracted (no checkout) and compiled for real.

Policy verdicts of past commits never change (the tree is content-addressed, waivers
are judged as of the commit's day), so they are cached by (tree id, day), keyed by the
policy engine's and the language's source, in
``.llmops/cache/audit-policy.json``: a second ``audit log`` compiles nothing again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.audit.git import Repo, extract_tree
from compiler.audit.snapshot import source_signature

POLICY_CACHE_VERSION = 1


@contextmanager
def project_at(repo: Repo, commit: str) -> Iterator[Path]:
    """A temp folder holding the project folder's files as of ``commit``; removed afterwards."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmops-audit-") as tmp:
        folder = Path(tmp) / "project"
        folder.mkdir()
        extract_tree(repo, commit, folder)
        yield folder


@dataclass(frozen=True)
class PolicyVerdict:
    """Policy results at one commit: ``status`` is passed | violations | invalid."""

    status: str
    summary: str
    report: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "summary": self.summary, "report": self.report}


def _judge(folder: Path, day: str) -> PolicyVerdict:
    """Compile the tree in ``folder`` and judge it with the policy engine, waivers as of ``day``."""
    import datetime as dt

    from compiler import compile_project
    from compiler.policy import check_policies

    compilation = compile_project(folder, use_cache=False)
    errors = [d for d in compilation.diagnostics if d.is_error]
    if errors:
        return PolicyVerdict("invalid", f"specs do not compile ({len(errors)} error{'s' if len(errors) != 1 else ''}); "
                                        "policies not evaluated", {"errors": [d.to_dict() for d in errors[:20]]})
    report = check_policies(compilation, dt.date.fromisoformat(day))
    findings, blocking = len(report.findings), len(report.errors)
    total = f"{findings} finding{'s' if findings != 1 else ''}"
    if blocking:
        return PolicyVerdict("violations", f"{blocking} violation{'s' if blocking != 1 else ''} ({total})", report.to_dict())
    return PolicyVerdict("passed", f"passed ({total}, none blocking)", report.to_dict())


class PolicyCache:
    """(tree id, day, engine) -> verdict, as JSON beside the other caches."""

    def __init__(self, root: Path | None) -> None:
        self.path = root / ".llmops" / "cache" / "audit-policy.json" if root is not None else None
        self.entries: dict[str, Any] = {}
        self.dirty = False
        self.signature = f"{POLICY_CACHE_VERSION}|{source_signature('compiler.policy')}|{source_signature('llmops_spec')}"
        if self.path is not None:
            try:
                stored = json.loads(self.path.read_text())
                if stored.get("signature") == self.signature:
                    self.entries = stored["entries"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass

    def save(self) -> None:
        if not self.dirty or self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"signature": self.signature, "entries": self.entries}))
            os.replace(tmp, self.path)
        except OSError:
            pass


def _trees(repo: Repo, commits: list[str]) -> dict[str, str]:
    """The tree id of the project folder at each commit (one ``cat-file --batch-check``)."""
    folder = repo.prefix.rstrip("/")
    names = [f"{c}:{folder}" if folder else f"{c}^{{tree}}" for c in commits]
    out = repo.git("cat-file", "--batch-check", stdin=("\n".join(names) + "\n").encode()).decode().splitlines()
    return {c: line.split()[0] for c, line in zip(commits, out) if not line.endswith("missing")}


def policy_verdicts(repo: Repo, commits: list[tuple[str, str]], cache: PolicyCache) -> dict[str, PolicyVerdict]:
    """Verdicts for each (commit, day), compiling only trees never judged before."""
    if not commits:
        return {}
    trees = _trees(repo, [sha for sha, _ in commits])
    verdicts: dict[str, PolicyVerdict] = {}
    for sha, day in commits:
        tree = trees.get(sha)
        if tree is None:
            verdicts[sha] = PolicyVerdict("invalid", "the project folder does not exist at this commit")
            continue
        key = f"{tree}:{day}"
        hit = cache.entries.get(key)
        if hit is None:
            with project_at(repo, sha) as folder:
                hit = cache.entries[key] = _judge(folder, day).to_dict()
            cache.dirty = True
        verdicts[sha] = PolicyVerdict(hit["status"], hit["summary"], hit.get("report"))
    cache.save()
    return verdicts
