"""The project as it was at a commit: its tree extracted (no checkout) and compiled for real.

Policy verdicts of past commits never change (the tree is content-addressed, waivers
are judged as of the commit's day), so they are cached by (tree id, day), keyed by the
policy engine's and the language's source, in ``audit-policy.marshal`` of the cache folder
(and the full reports beside it): a second ``audit log`` compiles nothing again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from compiler.audit.git import Repo, extract_tree
from compiler.audit.snapshot import source_signature
from compiler.cache_dir import cache_dir
from compiler.parse_cache import read_signed, write_signed

POLICY_CACHE_VERSION = 3


@contextmanager
def project_at(repo: Repo, commit: str) -> Iterator[Path]:
    """A temp folder holding the project folder's files as of ``commit``; removed afterwards."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmops-audit-") as tmp:
        folder = Path(tmp) / "project"
        folder.mkdir()
        extract_tree(repo, commit, folder)
        yield folder


class PolicyVerdict(NamedTuple):
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
    """(tree id, day) -> verdict, beside the other caches, keyed by the engine's and the language's source.

    The status and summary of each verdict (what the text log prints) and its full report
    (what JSON and the audit report carry, a thousand times larger) are two files, so a
    text log reads only the small one.
    """

    def __init__(self, root: Path | None) -> None:
        folder = cache_dir(root) if root is not None else None
        self.path = folder / "audit-policy.marshal" if folder is not None else None
        self.reports_path = folder / "audit-policy-reports.marshal" if folder is not None else None
        self.signature = f"{POLICY_CACHE_VERSION}|{source_signature('compiler.policy')}|{source_signature('llmops_spec')}"
        # (tree id, day) -> (status, summary); "commit:folder" -> that folder's tree id (a commit's trees never move)
        self.entries: dict[str, tuple[str, str]] = {}
        self.trees: dict[str, str] = {}
        stored = read_signed(self.path, self.signature)
        if isinstance(stored, tuple) and len(stored) == 2:
            self.entries, self.trees = stored
        self._reports: dict[str, dict[str, Any] | None] | None = None
        self.dirty = False

    @property
    def reports(self) -> dict[str, dict[str, Any] | None]:
        if self._reports is None:
            stored = read_signed(self.reports_path, self.signature)
            self._reports = stored if isinstance(stored, dict) else {}
        return self._reports

    def remember_trees(self, trees: dict[str, str]) -> None:
        fresh = {commit: tree for commit, tree in trees.items() if self.trees.get(commit) != tree}
        if fresh:
            self.trees.update(fresh)
            self.dirty = True

    def get(self, key: str, with_report: bool = True) -> PolicyVerdict | None:
        hit = self.entries.get(key)
        if hit is None or (with_report and key not in self.reports):
            return None
        return PolicyVerdict(hit[0], hit[1], self.reports[key] if with_report else None)

    def put(self, key: str, verdict: PolicyVerdict) -> None:
        self.reports[key] = verdict.report  # read first: the file is rewritten whole
        self.entries[key] = (verdict.status, verdict.summary)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or self.path is None or self.reports_path is None:
            return
        # The reports first, and the entries only once they are written: an entry never lacks its report.
        if write_signed(self.reports_path, self.signature, self.reports) and \
                write_signed(self.path, self.signature, (self.entries, self.trees)):
            self.dirty = False


def _trees(repo: Repo, commits: list[str], cache: PolicyCache) -> dict[str, str]:
    """The tree id of the project folder at each commit: remembered, else one ``cat-file --batch-check`` for the rest."""
    folder = repo.prefix.rstrip("/")
    names = {c: f"{c}:{folder}" if folder else f"{c}^{{tree}}" for c in commits}  # also the keys of cache.trees
    found = {c: cache.trees[name] for c, name in names.items() if name in cache.trees}
    unknown = [c for c in commits if c not in found]
    if unknown:
        out = repo.git("cat-file", "--batch-check", stdin=("\n".join(names[c] for c in unknown) + "\n").encode())
        fresh = {c: line.split()[0] for c, line in zip(unknown, out.decode().splitlines()) if not line.endswith("missing")}
        cache.remember_trees({names[c]: tree for c, tree in fresh.items()})
        found.update(fresh)
    return found


def policy_verdicts(repo: Repo, commits: list[tuple[str, str]], cache: PolicyCache,
                    reports: bool = True) -> dict[str, PolicyVerdict]:
    """Verdicts for each (commit, day), compiling only trees never judged before; without ``reports``, no report."""
    if not commits:
        return {}
    trees = _trees(repo, [sha for sha, _ in commits], cache)
    verdicts: dict[str, PolicyVerdict] = {}
    for sha, day in commits:
        tree = trees.get(sha)
        if tree is None:
            verdicts[sha] = PolicyVerdict("invalid", "the project folder does not exist at this commit")
            continue
        key = f"{tree}:{day}"
        verdict = cache.get(key, reports)
        if verdict is None:
            with project_at(repo, sha) as folder:
                verdict = _judge(folder, day)
            cache.put(key, verdict)
            verdict = verdict if reports else PolicyVerdict(verdict.status, verdict.summary)
        verdicts[sha] = verdict
    cache.save()
    return verdicts
