"""What ``dvc add`` does to an artifact folder, through DVC's own data layer, minus the repository index.

``Repo.add`` spends most of its time outside hashing: it collects every ``.dvc`` file of
the repository (the index) to look for overlapping outputs, once per call. Apply adds only
folders it owns (``artifacts/<kind>/<name>/<step>``, which no other output can overlap), so
it calls the steps of ``Output.add`` directly: ``dvc_data.hashfile.build`` hashes the folder
into a staging odb, the tree and its files go into the repository's cache (``repo.cache.local``,
DVC's transfer and link types), the workspace is relinked from the cache as ``dvc add``
relinks it, and the ``.dvc`` file and ``.gitignore`` entry are written as ``dvc add`` writes
them. The objects reach the remote from the task that made them (runners/objects.py), as
``dvc push`` would have sent them. The md5 is DVC's own, so ``dvc status``, ``dvc pull`` and
``dvc checkout`` see no difference (tests/test_dvc_commit.py holds them to that).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.llmops_dir import llmops_dir


@dataclass(frozen=True)
class Committed:
    """A folder whose objects are in the DVC cache: its tree's hash (``HashInfo``), size, and every object's id."""

    folder: Path
    hash_info: Any
    size: int | None
    nfiles: int | None
    object_ids: frozenset = frozenset()  # the tree and its files: a push of the tree alone would send the .dir only

    @property
    def md5(self) -> str:
        return self.hash_info.value


def dvc_file_entry(name: str, md5: str, size: int | None, nfiles: int | None) -> dict[str, Any]:
    """The ``outs`` entry ``dvc add`` writes for a folder (``Output.dumpd``: hash, meta, hash name, path)."""
    entry: dict[str, Any] = {"md5": md5}
    if size is not None:
        entry["size"] = size
    if nfiles is not None:
        entry["nfiles"] = nfiles
    return {**entry, "hash": "md5", "path": name}


_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")  # a step's folder name: a YAML plain scalar, unquoted by any dumper
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # plain words YAML reads as something else
_DIR_MD5 = re.compile(r"[0-9a-f]{32}\.dir\Z")


def dvc_file_text(name: str, md5: str, size: int | None, nfiles: int | None) -> str:
    """The text of ``<name>.dvc`` as DVC's YAML dumper writes it.

    A folder named like a step with a directory md5 is formatted directly (ruamel costs
    milliseconds per call; tests/test_dvc_commit.py checks the two agree); anything else
    goes through DVC's own ``dumps_yaml``.
    """
    if _PLAIN_NAME.match(name) and name not in _YAML_WORDS and _DIR_MD5.match(md5):
        entry = dvc_file_entry(name, md5, size, nfiles)
        return "outs:\n" + "".join(f"{'- ' if i == 0 else '  '}{key}: {value}\n" for i, (key, value) in enumerate(entry.items()))
    from dvc.utils.serialize import dumps_yaml

    return dumps_yaml({"outs": [dvc_file_entry(name, md5, size, nfiles)]})


class LinkLog:
    """``repo.state`` as checkout sees it, with the links it records gathered and saved in one transaction.

    ``dvc add`` relinks the workspace from the cache and records the folder in the state's
    ``links`` table (which ``dvc checkout`` reads to clean up links it made). Each
    ``State.set_link`` opens and closes that sqlite database, a few milliseconds of fsync;
    ``save`` writes the same keys and values, once per batch.
    """

    def __init__(self, state: Any) -> None:
        self._state = state
        self._links: list[tuple[str, Any, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    def set_link(self, path: str, inode: Any, mtime: Any) -> None:
        self._links.append((path, inode, mtime))

    def moved(self, old: Path, new: Path) -> None:
        """The links gathered under ``old`` now live under ``new`` (a folder renamed into place keeps its inodes)."""
        old_s, new_s = os.fspath(old), os.fspath(new)
        self._links = [(new_s + path[len(old_s):] if path == old_s or path.startswith(old_s + os.sep) else path, inode, mtime)
                       for path, inode, mtime in self._links]

    def save(self) -> None:
        links, root = getattr(self._state, "links", None), getattr(self._state, "root_dir", None)
        if links is None or root is None or not self._links:  # StateNoop: DVC keeps no state here
            return
        with links as ref, ref.transact():
            for path, inode, mtime in self._links:
                ref[os.path.relpath(path, root)] = (inode, mtime)  # State.set_link's key and value
        self._links.clear()


def commit_to_cache(repo: Any, folder: Path, state: Any = None) -> Committed:
    """Hash ``folder`` and add its objects to the repository's cache, then relink it from there (``Output.add``)."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.checkout import checkout
    from dvc_data.hashfile.db import add_update_tree
    from dvc_data.hashfile.transfer import transfer
    from dvc_data.hashfile.tree import Tree

    cache, fs, path = repo.cache.local, repo.fs, os.fspath(folder)
    with forgetting_digests():  # read until the tree is in the cache
        staging, meta, obj = build(cache, path, fs, "md5", ignore=repo.dvcignore, checksum_jobs=fs.hash_jobs)
        if isinstance(obj, Tree):
            add_update_tree(cache, obj)
        hardlink = next(iter(cache.cache_types), None) == "hardlink"
        transfer(staging, cache, {obj.hash_info}, hardlink=hardlink, shallow=False)
    checkout(path, fs, obj, cache, relink=True, state=repo.state if state is None else state, old=obj,
             ignore=repo.dvcignore, checksum_jobs=fs.hash_jobs)
    files = {oid for _, _, oid in obj} if isinstance(obj, Tree) else set()
    return Committed(folder, obj.hash_info, meta.size, meta.nfiles, frozenset({obj.hash_info, *files}))


@contextlib.contextmanager
def forgetting_digests() -> Iterator[None]:
    """Drop the temp files a build leaves in fsspec's process-wide in-memory fs.

    ``Tree.digest`` writes each tree's listing to ``memory://.<random>.tmp`` to hash it and
    never removes it; a ``dvc add`` process exits soon after, apply does not. The in-memory
    fs scans all its files on each lookup, so left there they make each build slower than
    the last. Once the tree is in the cache, they are read no more.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    before = set(MemoryFileSystem.store)
    try:
        yield
    finally:
        for key in set(MemoryFileSystem.store) - before:
            if key.rsplit("/", 1)[-1].startswith(".") and ".tmp" in key:
                MemoryFileSystem.store.pop(key, None)


def remote_odb(repo: Any) -> Any:
    """The default remote's object database (what ``dvc push`` pushes to); raises DVC's NoRemoteError without one."""
    return repo.cloud.get_remote_odb(None, "push")


class DataLayerErrors:
    """The errors ``dvc_data`` logs instead of raising, kept instead of printed.

    A transfer reports a failed upload or download by logging it (with its traceback) and
    leaving the object out of its result; a fetch logs "failed to connect" and counts the
    files as failed. Kept here, the first one tells the node's failure (refused or missing
    credentials, a lost connection), and no traceback reaches the terminal.
    """

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def __enter__(self) -> DataLayerErrors:
        import logging

        keeper = self

        class _Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.exc_info and record.exc_info[1] is not None:
                    keeper.errors.append(record.exc_info[1])

        self._logger = logging.getLogger("dvc_data")
        self._handler, self._propagate = _Keep(logging.ERROR), self._logger.propagate
        self._logger.addHandler(self._handler)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.propagate = self._propagate


def write_dvc_file(repo: Any, committed: Committed) -> Path:
    """Write ``<folder>.dvc`` (atomically: a reader never sees half of it) and git-ignore the folder, as ``dvc add`` does."""
    folder = committed.folder
    dvc_file = folder.with_name(folder.name + ".dvc")
    text = dvc_file_text(folder.name, committed.md5, committed.size, committed.nfiles)
    if not _same_text(dvc_file, text):
        # in .llmops/tmp (git-ignored), not beside the .dvc file; open(), not mkstemp: the umask's mode, as dvc's
        tmp = llmops_dir(Path(repo.root_dir), "tmp") / f".{dvc_file.name}.{os.getpid()}.tmp"
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, dvc_file)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    repo.scm_context.ignore(os.fspath(folder))
    return dvc_file


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False
