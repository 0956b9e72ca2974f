"""What the no-shared-disk cluster tests check, shared by their modules: the example project as a git
repository, the artifacts the lock pins (non-empty, hashed as DVC hashes them), a fresh clone, the
remote's objects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import EXAMPLE, git_repo, run_llmops

FINETUNE = "Model/ticket-classifier:finetune"
PREPARE = "Dataset/support-tickets:prepare"
REQUEST = '{"text": "I was charged twice this month"}'


def example_repo(repo: Path, remote: str, *init_args: str, env: dict[str, str] | None = None) -> Path:
    """A git repository whose ``specs/`` is a private copy of the example, ``llmops init``-ed with ``remote``
    (and committed, .dvc/config included); returns ``specs``."""
    specs = repo / "specs"
    shutil.copytree(EXAMPLE, specs, ignore=shutil.ignore_patterns(".llmops", "llmops.lock", "llmops.applies.jsonl",
                                                                   ".dvc", ".dvcignore", "artifacts"))
    git_repo(repo)
    done = run_llmops("init", "specs", "--remote", remote, *init_args, cwd=repo, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    commit(repo, "init")
    return specs


def commit(repo: Path, message: str) -> None:
    for args in (["add", "-A"], ["commit", "-qm", message, "--allow-empty"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def committed_files(repo: Path, target: Path) -> Path:
    """A copy of what ``repo`` commits (a worker's own checkout; no artifact, no cache)."""
    subprocess.run(["git", "clone", "-q", str(repo), str(target)], check=True, capture_output=True)
    shutil.rmtree(target / ".git")
    return target


def lock_nodes(specs: Path) -> dict[str, dict]:
    return json.loads((specs / "llmops.lock").read_text())["nodes"]


def lock_outputs(specs: Path) -> dict[str, str]:
    """Every artifact folder the lock pins -> its DVC md5."""
    return {folder: md5 for entry in lock_nodes(specs).values() for folder, md5 in entry.get("outputs", {}).items()
            if isinstance(md5, str)}


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dvc_md5(folder: Path) -> str:
    """The md5 DVC gives ``folder`` (its ``.dir`` object), computed here by dvc-data into a throwaway object db."""
    import tempfile

    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory() as scratch:
        _, _, obj = build(HashFileDB(fs, scratch), os.fspath(folder), fs, "md5")
        return obj.hash_info.value


def unverified_artifacts(specs: Path) -> list[str]:
    """Each artifact of the lock that is missing, empty, or whose workspace copy DVC hashes otherwise."""
    wrong = []
    for folder, md5 in sorted(lock_outputs(specs).items()):
        path = specs / folder
        if not path.is_dir() or not tree(path):
            wrong.append(f"{folder}: missing or empty")
        elif (found := dvc_md5(path)) != md5:
            wrong.append(f"{folder}: lock {md5}, workspace {found}")
    return wrong


def pulled_and_verified(cluster, repo: Path, specs: Path) -> list[str]:  # noqa: ANN001 - an NsdCluster
    """``llmops pull`` in the driver's workspace, then ``unverified_artifacts``: what an apply on the cluster checked
    on the remote, without bringing it here, comes back as the lock pins it."""
    pulled = cluster.llmops("pull", specs.name, cwd=repo)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    return unverified_artifacts(specs)


def remote_object(remote: Path, md5: str) -> Path:
    """Where a folder remote keeps the object ``md5`` (DVC 3: files/md5/xx/rest, a folder's ending in .dir)."""
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def listing(remote: Path, dir_md5: str) -> list[dict[str, str]]:
    """The entries (relpath, md5) of a folder's ``.dir`` object on a folder remote."""
    return json.loads(remote_object(remote, dir_md5).read_bytes())


def pulled_clone(repo: Path, target: Path, cluster) -> tuple[Path, subprocess.CompletedProcess]:  # noqa: ANN001
    """A fresh git clone of ``repo`` (committed files only: specs, .dvc files, lock, log, .dvc/config) after
    ``llmops pull specs`` run with the driver's environment of ``cluster`` (an NsdCluster)."""
    subprocess.run(["git", "clone", "-q", str(repo), str(target)], check=True, capture_output=True)
    unpulled = [folder for folder in lock_outputs(target / "specs") if (target / "specs" / folder).exists()]
    assert not unpulled, f"artifacts are committed: {unpulled}"
    return target / "specs", cluster.llmops("pull", "specs", cwd=target)
