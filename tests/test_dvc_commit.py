"""A folder a task pushed (runners/objects.push_folder) and the driver landed (Store.land) is versioned exactly as
``dvc add`` + ``dvc push`` would version it: the same .dvc file and .gitignore entry, the same md5, the same
objects in the cache and on the remote, and a fresh clone that ``dvc pull`` (and ``dvc checkout``, and
``Store.restore``) restores. Real git, real DVC, a local remote."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git_repo, write_project

from runners.dvc_commit import dvc_file_entry, dvc_file_text
from runners.dvc_store import Store, init_project
from runners.objects import push_folder

pytestmark = pytest.mark.slow

DVC = str(Path(sys.executable).with_name("dvc"))
FOLDERS = {  # two artifact folders, one nested, one with an empty file and an executable one
    "artifacts/prompt/p/prompt": {"prompt.json": '{"template": "Hello"}\n'},
    "artifacts/model/m/finetune": {"llmops_model.json": "{}\n", "model/config.json": '{"a": 1}\n',
                                   "model/weights.bin": b"\x00\x01" * 5000, "model/empty.txt": "", "run.sh": "#!/bin/sh\n"},
}


def dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([DVC, *args], cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def dvc_project(base: Path) -> Path:
    """A git repository whose specs/ is a DVC project (a subdir, as ``llmops init`` makes it) with a fresh local remote."""
    specs = base / "repo" / "specs"
    write_project(specs, {"p.yaml": "# a spec\n"})
    git_repo(base / "repo")
    with contextlib.redirect_stdout(io.StringIO()):
        init_project(specs, str(base / "remote"))
    for name, files in FOLDERS.items():
        write_project(specs / name, files)
    (specs / "artifacts/model/m/finetune/run.sh").chmod(0o755)
    return specs


def objects(folder: Path) -> dict[str, int]:
    """Every object under a cache or remote, with its mode bits."""
    return {str(p.relative_to(folder)): p.stat().st_mode & 0o777 for p in folder.rglob("*") if p.is_file()}


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def land(store: Store, name: str, scratch: Path) -> str:
    """Version ``name`` as apply does: its files are a task's output (moved to the task's scratch), pushed, landed."""
    out = scratch / name
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(store.root / name, out)
    return store.land(store.root / name, push_folder(store.remote(), out, name))


@pytest.fixture
def twins(tmp_path):
    """The same folders in two projects: one pushed by a task and landed by apply, the other by dvc add + dvc push."""
    ours, theirs = dvc_project(tmp_path / "ours"), dvc_project(tmp_path / "theirs")
    store = Store(ours)
    try:
        md5s = [land(store, name, tmp_path / "task") for name in FOLDERS]
    finally:
        store.close()
    dvc("add", "-q", *FOLDERS, cwd=theirs)
    dvc("push", "-q", cwd=theirs)
    return ours, theirs, md5s


def test_the_dvc_file_gitignore_md5_cache_and_remote_are_those_of_dvc_add(twins, tmp_path):
    ours, theirs, md5s = twins
    for name, md5 in zip(FOLDERS, md5s):
        theirs_text = (theirs / f"{name}.dvc").read_text()
        assert (ours / f"{name}.dvc").read_text() == theirs_text
        assert f"md5: {md5}\n" in theirs_text and md5.endswith(".dir")
        assert (ours / f"{name}.dvc").stat().st_mode == (theirs / f"{name}.dvc").stat().st_mode
        ignore = Path(name).parent / ".gitignore"
        assert (ours / ignore).read_text() == (theirs / ignore).read_text() == f"/{Path(name).name}\n"
        assert Store(ours).recorded_md5(ours / name) == md5
    assert objects(ours / ".dvc/cache") == objects(theirs / ".dvc/cache")
    assert objects(tmp_path / "ours/remote") == objects(tmp_path / "theirs/remote") != {}
    for name in FOLDERS:  # the workspace is left as dvc add leaves it
        assert tree_bytes(ours / name) == tree_bytes(theirs / name)
    assert git("status", "--porcelain", "--untracked-files=all", cwd=ours.parent) == \
        git("status", "--porcelain", "--untracked-files=all", cwd=theirs.parent)
    assert state_links(ours) == state_links(theirs) == set(FOLDERS), "dvc checkout knows the folders as its links"


def state_links(root: Path) -> set[str]:
    """The workspace paths DVC's state records as links it made (``dvc checkout`` cleans those up)."""
    from dvc.repo import Repo

    repo = Repo(str(root))
    try:
        with repo.state.links as ref:
            return set(ref)
    finally:
        repo.close()


def test_dvc_sees_no_difference_and_a_fresh_clone_pulls_and_checks_out(twins, tmp_path):
    ours, theirs, md5s = twins
    assert "up to date" in dvc("status", cwd=ours).stdout
    assert "are in sync" in dvc("status", "--cloud", cwd=ours).stdout
    assert dvc("data", "status", "--json", cwd=ours).stdout == dvc("data", "status", "--json", cwd=theirs).stdout
    git("add", "-A", cwd=ours.parent)
    git("commit", "-qm", "artifacts", cwd=ours.parent)
    clone = tmp_path / "clone"
    git("clone", "-q", str(ours.parent), str(clone), cwd=tmp_path)
    assert not (clone / "specs" / next(iter(FOLDERS))).exists(), "the data is not in git"
    dvc("pull", "-q", cwd=clone / "specs")
    for name in FOLDERS:
        assert tree_bytes(clone / "specs" / name) == tree_bytes(ours / name)
    assert "up to date" in dvc("status", cwd=clone / "specs").stdout
    removed = clone / "specs" / next(iter(FOLDERS))
    subprocess.run(["rm", "-rf", str(removed)], check=True)
    dvc("checkout", "-q", cwd=clone / "specs")  # from the clone's cache, now filled by the pull
    assert tree_bytes(removed) == tree_bytes(ours / next(iter(FOLDERS)))
    again = tmp_path / "again"
    git("clone", "-q", str(ours.parent), str(again), cwd=tmp_path)
    store = Store(again / "specs")  # what `llmops pull` and apply's restore call
    try:
        store.restore([again / "specs" / name for name in FOLDERS])
    finally:
        store.close()
    for name, md5 in zip(FOLDERS, md5s):
        assert tree_bytes(again / "specs" / name) == tree_bytes(ours / name)
        assert store.recorded_md5(again / "specs" / name) == md5


def test_a_changed_folder_is_versioned_again_like_dvc_add_does(twins, tmp_path):
    ours, theirs, md5s = twins
    name = next(iter(FOLDERS))
    for root in (ours, theirs):
        (root / name / "prompt.json").unlink()  # the workspace is relinked from the cache: replace, not edit in place
        write_project(root / name, {"prompt.json": '{"template": "Hello again"}\n', "extra/notes.txt": "more\n"})
    store = Store(ours)
    try:
        md5 = land(store, name, tmp_path / "task")
        assert land(store, name, tmp_path / "task") == md5, "versioning the same content again changes nothing"
    finally:
        store.close()
    dvc("add", "-q", name, cwd=theirs)
    dvc("push", "-q", cwd=theirs)
    assert md5 != md5s[0]
    assert (ours / f"{name}.dvc").read_text() == (theirs / f"{name}.dvc").read_text()
    assert (ours / Path(name).parent / ".gitignore").read_text() == f"/{Path(name).name}\n"
    assert "are in sync" in dvc("status", "--cloud", cwd=ours).stdout


def test_the_dvc_file_entry_follows_dvc_s_field_order():
    assert list(dvc_file_entry("prompt", "0" * 32 + ".dir", 10, 1)) == ["md5", "size", "nfiles", "hash", "path"]


def test_the_dvc_file_text_is_what_dvc_s_yaml_dumper_writes():
    from dvc.utils.serialize import dumps_yaml

    names = ["prepare", "prompt", "import", "finetune", "evaluate", "gate", "deploy", "yes", "no", "null", "Prompt",
             "1.5", "a b", "x:y", "#x", "-x", "true", "p-0_1"]
    md5s = ["43c8cbf943a638ed627782e854d94976.dir", "12345678901234567890123456789012.dir", "1234567890123456789012345678901e",
            "0" * 32]
    for name, md5, (size, nfiles) in itertools.product(names, md5s, [(6, 2), (0, 0), (None, None), (10**12, 1)]):
        expected = dumps_yaml({"outs": [dvc_file_entry(name, md5, size, nfiles)]})
        assert dvc_file_text(name, md5, size, nfiles) == expected, (name, md5, size, nfiles)


def test_versioning_leaves_nothing_behind_in_the_in_memory_fs(tmp_path):
    """A long apply versions batch after batch in one process: DVC's leftovers would slow each one more."""
    from fsspec.implementations.memory import MemoryFileSystem

    root = dvc_project(tmp_path)
    store = Store(root)
    try:
        store.remote()  # DVC's imports and the remote's odb, before the counting starts
        land(store, next(iter(FOLDERS)), tmp_path / "task")
        before = dict(MemoryFileSystem.store)
        for name in FOLDERS:
            land(store, name, tmp_path / "task")
        assert dict(MemoryFileSystem.store) == before
    finally:
        store.close()
