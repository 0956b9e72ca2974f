"""Reading a repository through the ``git`` command: history, trees and blobs, no checkout.

Everything goes through a few git processes per query (one ``log``, one ``cat-file
--batch`` for every blob needed), so a 1,000-commit history reads in one pass. The git
CLI was measured against pygit2 for this (docs/audit.md): the CLI needs no native
dependency and its ``log --raw`` hands over the blob ids of every change in one stream.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple


class GitError(Exception):
    """git is missing, the folder is not in a repository, or a revision does not exist."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class FileChange(NamedTuple):
    """One file changed by a commit against its first parent (``R``: renamed, with both paths)."""

    status: str          # A | M | D | R | C | T
    old_path: str | None
    new_path: str | None
    old_blob: str | None
    new_blob: str | None


class Commit(NamedTuple):
    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    authored: int        # unix time
    committed: int       # unix time
    message: str
    files: tuple[FileChange, ...] = ()

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


_NULL = "0" * 40


class Repo(NamedTuple):
    """A git repository seen from a project folder: ``top`` runs git, ``prefix`` is the folder in the tree.

    ``head`` is the commit HEAD named when the repository was opened (None before the first
    commit): one command's view of the history, read in the same ``git rev-parse``.
    """

    top: Path
    prefix: str          # the project's folder relative to the repository root: "" or "specs/"
    head: str | None = None

    def git(self, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
        try:
            done = subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=self.top, input=stdin,
                                  capture_output=True, check=False)
        except FileNotFoundError:
            raise GitError("git is not installed", "install git; audit reads the history through it") from None
        if check and done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def path(self, rel: str) -> str:
        """A project-relative path as a path in the repository's tree."""
        return f"{self.prefix}{rel}"

    def relative(self, tree_path: str) -> str | None:
        """A tree path relative to the project folder; None when outside it."""
        return tree_path[len(self.prefix):] if tree_path.startswith(self.prefix) else None


def open_repo(folder: Path) -> Repo:
    """The repository holding ``folder``; GitError with a hint when there is none."""
    folder = folder.resolve()
    if not folder.is_dir():
        folder = folder.parent
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel", "--show-prefix", "HEAD^{commit}"], cwd=folder,
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed", "install git; audit reads the history through it") from None
    lines = done.stdout.splitlines()
    if len(lines) < 2:  # an unborn HEAD still prints the two folders (and fails); outside a repository, nothing
        raise GitError(f"{folder} is not inside a git repository",
                       "audit answers from the spec history in git: run it in a clone of the spec repository")
    head = lines[2] if done.returncode == 0 and len(lines) > 2 else None
    return Repo(Path(lines[0]), lines[1], head)


def resolve_commit(repo: Repo, rev: str) -> str | None:
    """The full sha of ``rev`` (a sha, branch, tag or HEAD~3), or None when it names no commit."""
    out = repo.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
    sha = out.decode().strip()
    return sha or None


_FORMAT = "%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%B%x1f"


def _parse_changes(tokens: list[bytes]) -> list[FileChange]:
    changes: list[FileChange] = []
    i = 0
    while i < len(tokens):
        meta = tokens[i].decode()
        if not meta.startswith(":"):
            i += 1
            continue
        _, _, old_blob, new_blob, status = meta[1:].split(" ")
        kind = status[0]
        paths = [t.decode("utf-8", "surrogateescape") for t in tokens[i + 1:i + (3 if kind in "RC" else 2)]]
        i += 3 if kind in "RC" else 2
        old_path = paths[0] if kind != "A" else None
        new_path = paths[-1] if kind != "D" else None
        changes.append(FileChange(kind, old_path, new_path, None if old_blob == _NULL else old_blob,
                                  None if new_blob == _NULL else new_blob))
    return changes


def parse_log(raw: bytes) -> list[Commit]:
    """Pure: ``git log -z --raw`` output in ``_FORMAT`` to commits."""
    commits: list[Commit] = []
    for chunk in raw.split(b"\x1e")[1:]:
        header, _, diff = chunk.partition(b"\x00")
        sha, parents, author, email, authored, committed, message, _ = header.decode("utf-8", "replace").split("\x1f")
        tokens = [t.strip(b"\n") for t in diff.split(b"\x00")]
        commits.append(Commit(sha, tuple(parents.split()), author, email, int(authored), int(committed),
                              message.strip(), tuple(_parse_changes([t for t in tokens if t]))))
    return commits


def log(repo: Repo, rev: str = "HEAD", since: str | None = None, until: str | None = None,
        paths: tuple[str, ...] | None = None, files: bool = True) -> list[Commit]:
    """Commits reachable from ``rev`` that touch ``paths`` (the project folder by default), newest first.

    Each carries its files changed against its first parent (a merge: what it brought
    into the branch), with renames detected, and the blob ids of both sides. With
    ``files=False`` the same commits come without their files: git walks the history
    but computes no diff to print, which is most of its time.
    """
    diff = ["--raw", "--no-abbrev", "-M", "--root", "--diff-merges=first-parent"] if files else []
    args = ["log", "-z", *diff, "--full-history", f"--format={_FORMAT}"]
    if since:
        args.append(f"--since={since}")
    if until:
        args.append(f"--until={until}")
    args.append(rev)
    scope = paths if paths is not None else ((repo.prefix.rstrip("/"),) if repo.prefix else ())
    if scope:
        args += ["--", *scope]
    try:
        return parse_log(repo.git(*args))
    except GitError:
        if not head_exists(repo, rev):  # an empty repository, or a branch with no commit yet: no history
            return []
        raise


def head_exists(repo: Repo, rev: str = "HEAD") -> bool:
    return resolve_commit(repo, rev) is not None


def read_blobs(repo: Repo, shas: list[str]) -> dict[str, bytes]:
    """The content of each blob (or ``rev:path``), read by one ``git cat-file --batch``; missing ones are left out."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = repo.git("cat-file", "--batch", stdin=("\n".join(wanted) + "\n").encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    for name in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if header[-1] == b"missing" or len(header) < 3:
            continue
        size = int(header[2])
        blobs[name] = out[pos:pos + size]
        pos += size + 1
    return blobs


def extract_tree(repo: Repo, commit: str, dest: Path) -> None:
    """Write the project folder as it was at ``commit`` into ``dest`` (``git archive``, no checkout)."""
    import io
    import tarfile

    tree = f"{commit}:{repo.prefix.rstrip('/')}" if repo.prefix else commit
    raw = repo.git("archive", "--format=tar", tree)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        tar.extractall(dest, filter="data")


def file_versions(repo: Repo, tree_path: str, rev: str = "HEAD") -> list[tuple[str, bytes]]:
    """Every committed version of one file as (commit, bytes), newest first; deletions left out."""
    commits = log(repo, rev, paths=(tree_path,))
    wanted = [(c.sha, f.new_blob) for c in commits for f in c.files if f.new_path == tree_path and f.new_blob]
    blobs = read_blobs(repo, [blob for _, blob in wanted])
    return [(sha, blobs[blob]) for sha, blob in wanted if blob in blobs]
