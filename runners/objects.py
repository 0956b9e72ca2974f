"""Artifacts as DVC objects on the remote: what a node's task fetches by md5 and pushes, with no shared disk.

A Ray worker never reads or writes the driver's working tree. For each thing its step reads it
is sent a path relative to the project and the md5 that names the content (an upstream
artifact's ``<md5>.dir``, a source file the driver staged), and ``fetch`` copies those objects
from the DVC remote into the worker's own scratch folder, every byte checked against its md5.
The step writes its outputs there; ``push_folder`` hashes them as ``dvc add`` does (DVC's own
``build``), sends them to the remote (a tree's files before its ``.dir`` listing, so a listing
on the remote never names a file that is not there) and returns a ``Manifest``. The driver lands
a node only once the remote holds its folder whole: either checked in place (``verify_folders``:
the listing, each file's presence and size; no file crosses the network) or brought back into
the driver's workspace (``fetch_folders``), hashed again as it lands.

The remote is DVC's object layout (``<url>/files/md5/ab/cdef...``), so what a worker pushes is
what ``dvc push`` would have pushed, and ``dvc pull`` in a fresh clone restores it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.remote_odb import RemoteAddress, open_remote
from runners.step import NodeFailed

FETCH_THREADS = 8  # objects in flight per fetch: an S3 round trip each, a copy each for a folder remote
_MD5 = re.compile(r"[0-9a-f]{32}\Z")
_HINT_DAMAGED = ("the object on the DVC remote was altered or damaged: delete it there and push it again from a "
                 "machine whose DVC cache holds it (`dvc push`), or re-run the node that produced it")
_HINT_MISSING = ("the DVC remote lost the object: push it again from a machine whose DVC cache holds it "
                 "(`dvc push`), or re-run the node that produced it")


@dataclass(frozen=True)
class Manifest:
    """What a task pushed for one output folder: its tree's md5 (``<md5>.dir``), total size and file count."""

    oid: str
    size: int
    nfiles: int

    def to_dict(self) -> dict[str, Any]:
        return {"md5": self.oid, "size": self.size, "nfiles": self.nfiles}


def confined(relpath: str) -> bool:
    """Pure: ``relpath`` names a place inside a folder (no absolute path, no ``..``, no empty name)."""
    if not isinstance(relpath, str) or not relpath or "\0" in relpath or "\\" in relpath or relpath.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in relpath.split("/"))


def listing_entries(data: bytes, oid: str) -> list[tuple[str, str]]:
    """Pure: the (relpath, md5) pairs of a folder's ``.dir`` listing whose bytes must hash to ``oid``.

    Raises ValueError for a listing that is altered, malformed, or names a path out of the folder.
    """
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != oid.removesuffix(".dir"):
        raise ValueError(f"the listing {oid} does not hash to its md5")
    entries = json.loads(data)
    if not isinstance(entries, list):
        raise ValueError(f"the listing {oid} is not a list")
    pairs = []
    for entry in entries:
        relpath, md5 = (entry.get("relpath"), entry.get("md5")) if isinstance(entry, dict) else (None, None)
        if not confined(relpath) or not isinstance(md5, str) or not _MD5.match(md5):
            raise ValueError(f"the listing {oid} names {relpath!r}, which is not a file of the folder")
        pairs.append((relpath, md5))
    return pairs


@functools.lru_cache(maxsize=8)
def remote_of(address: RemoteAddress) -> Any:
    """The remote's object database, opened once per process (a worker runs many tasks)."""
    return open_remote(address)


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _redacted(exc: BaseException) -> str:
    from runners.remote import redact

    return redact(f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")


def _cat(odb: Any, oid: str, what: str) -> bytes:
    """An object's bytes (a ``.dir`` listing), read twice at most when they do not hash to ``oid``."""
    for _ in range(2):
        try:
            data = odb.fs.cat_file(odb.oid_to_path(oid))
        except FileNotFoundError:
            raise NodeFailed(f"the DVC remote holds no object {oid} ({what})", _HINT_MISSING, retryable=False) from None
        except Exception as exc:  # a lost connection, a refused read
            raise NodeFailed(f"cannot read {what} ({oid}) from the DVC remote: {_redacted(exc)}",
                             "check the remote and this worker's credentials for it (docs/remotes.md)") from None
        if hashlib.md5(data, usedforsecurity=False).hexdigest() == oid.removesuffix(".dir"):
            return data
    raise NodeFailed(f"the DVC remote's object {oid} ({what}) does not hash to its md5", _HINT_DAMAGED, retryable=False)


def _download(odb: Any, oid: str, target: Path, what: str, verify: bool = True) -> int:
    """Copy the file object ``oid`` to ``target``, checked against its md5 (fetched once more if it is not)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    for _ in range(2):
        try:
            odb.fs.get_file(odb.oid_to_path(oid), os.fspath(part))
        except FileNotFoundError:
            raise NodeFailed(f"the DVC remote holds no object {oid} ({what})", _HINT_MISSING, retryable=False) from None
        except Exception as exc:
            part.unlink(missing_ok=True)
            raise NodeFailed(f"cannot fetch {what} ({oid}) from the DVC remote: {_redacted(exc)}",
                             "check the remote and this worker's credentials for it (docs/remotes.md)") from None
        if not verify or file_md5(part) == oid:
            size = part.stat().st_size
            os.replace(part, target)
            return size
        part.unlink(missing_ok=True)
    raise NodeFailed(f"the DVC remote's object {oid} ({what}) does not hash to its md5", _HINT_DAMAGED, retryable=False)


def fetch(address: RemoteAddress | Any, oid: str, dest: Path, what: str | None = None) -> int:
    """The object ``oid`` (``<md5>.dir``: a folder; ``<md5>``: a file) from the remote into ``dest``; bytes fetched.

    ``address`` is a ``RemoteAddress`` or an opened object database. Every file is checked against
    its md5; one that does not match is fetched once more, then the node fails naming the object.
    """
    return fetch_many(address, {os.fspath(dest): oid}, Path("/"), {os.fspath(dest): what or os.fspath(dest)})


def fetch_many(address: RemoteAddress | Any, objects: dict[str, str], root: Path,
               names: dict[str, str] | None = None, verify: bool = True) -> int:
    """Fetch each ``relpath -> oid`` of ``objects`` to ``root / relpath``, all files in one pool; bytes fetched.

    ``names`` says what each relpath is in messages (default: the relpath). ``verify=False`` leaves
    the files' check to the caller (the driver hashes a landed folder anyway); listings are always checked.
    """
    odb = remote_of(address) if isinstance(address, RemoteAddress) else address
    names = names or {}
    files: list[tuple[str, Path, str]] = []  # (oid, target, what)
    for relpath, oid in objects.items():
        what = names.get(relpath, relpath)
        target = root / relpath
        files += _folder_files(odb, oid, target, what) if oid.endswith(".dir") else [(oid, target, what)]
    if not files:
        return 0
    with ThreadPoolExecutor(min(FETCH_THREADS, len(files))) as pool:
        return sum(pool.map(lambda item: _download(odb, *item, verify=verify), files))


def _folder_files(odb: Any, oid: str, target: Path, what: str) -> list[tuple[str, Path, str]]:
    """The files of the folder object ``oid`` as ``(md5, where it goes under target, its name)``, from its listing
    (checked against its md5 and confined to the folder); ``target`` is made. Raises NodeFailed."""
    try:
        entries = listing_entries(_cat(odb, oid, what), oid)
    except ValueError as exc:
        raise NodeFailed(f"{what}: {exc}", _HINT_DAMAGED, retryable=False) from None
    return _placed(entries, target, what)


def _placed(entries: list[tuple[str, str]], target: Path, what: str) -> list[tuple[str, Path, str]]:
    """A listing's ``(relpath, md5)`` entries as ``(md5, where it goes under target, its name)``; ``target`` is made."""
    target.mkdir(parents=True, exist_ok=True)
    return [(md5, target / rel, f"{what}/{rel}") for rel, md5 in entries]


def _checked_listing(odb: Any, manifest: Manifest, what: str) -> tuple[bytes, list[tuple[str, str]]] | NodeFailed:
    """A pushed folder's ``.dir`` listing, bytes and entries, or why it cannot be landed: no files, a listing
    that is lost, does not hash to its md5, or names another count of files than the task's manifest."""
    if not manifest.nfiles:
        return NodeFailed("the output has no files", "the step wrote nothing: see its log", retryable=False)
    try:
        data = _cat(odb, manifest.oid, what)
        entries = listing_entries(data, manifest.oid)
    except ValueError as exc:
        return NodeFailed(f"{what}: {exc}", _HINT_DAMAGED, retryable=False)
    except NodeFailed as exc:
        return exc
    if len(entries) != manifest.nfiles:
        return NodeFailed(f"the remote's listing {manifest.oid} has {len(entries)} files, the task reported "
                          f"{manifest.nfiles}", _HINT_DAMAGED, retryable=False)
    return data, entries


def fetch_folders(address: RemoteAddress | Any, folders: dict[str, tuple[Manifest, Path]],
                  names: dict[str, str]) -> dict[str, NodeFailed | int]:
    """Fetch each pushed folder ``key -> (manifest, target)`` into its target, every file of all of them in one pool.

    Per key: the bytes fetched, or why that folder cannot be landed (``_checked_listing``, or an object
    the remote lacks); one folder's failure leaves the others fetched. The files are not hashed here: the
    driver hashes what it lands (runners/dvc_store.py), which is the check that counts. This is what lands
    a batch of nodes at the cost of one round of the remote, where a loop of ``fetch_many`` would open a
    pool per folder.
    """
    odb = remote_of(address) if isinstance(address, RemoteAddress) else address
    outcome: dict[str, NodeFailed | int] = {}
    files: list[tuple[str, str, Path, str]] = []  # (key, md5, target, what)
    keys = list(folders)
    if not keys:
        return outcome
    with ThreadPoolExecutor(min(FETCH_THREADS, len(keys))) as pool:
        for key, listed in zip(keys, pool.map(lambda k: _checked_listing(odb, folders[k][0], names[k]), keys)):
            outcome[key] = listed if isinstance(listed, NodeFailed) else 0
            if not isinstance(listed, NodeFailed):
                files += [(key, *placed) for placed in _placed(listed[1], folders[key][1], names[key])]

        def download(item: tuple[str, str, Path, str]) -> tuple[str, NodeFailed | int]:
            key, md5, target, what = item
            try:
                return key, _download(odb, md5, target, what, verify=False)
            except NodeFailed as exc:
                return key, exc

        for key, got in pool.map(download, files):
            done = outcome[key]
            if isinstance(done, NodeFailed):
                continue  # the first failure of a folder is its reason
            outcome[key] = got if isinstance(got, NodeFailed) else done + got
    return outcome


def verify_folders(address: RemoteAddress | Any, folders: dict[str, Manifest],
                   names: dict[str, str]) -> dict[str, NodeFailed | bytes]:
    """Check, without fetching a file, that the remote holds each pushed folder ``key -> manifest`` whole.

    Per key: the folder's ``.dir`` listing (its bytes, which hash to the manifest's md5), once every
    file the listing names is on the remote and their sizes add up to the manifest's; else why not
    (``_checked_listing``, a file object the remote lacks, a size that differs). One listing read and one
    size query per file (a stat on a folder remote, a HEAD on S3), all folders' in one pool. What a
    file holds is its md5's business: the worker hashed it as it pushed it, and every reader (a task's
    fetch, ``llmops pull``) checks it against that md5.
    """
    odb = remote_of(address) if isinstance(address, RemoteAddress) else address
    keys = list(folders)
    if not keys:
        return {}
    with ThreadPoolExecutor(min(FETCH_THREADS, len(keys))) as pool:
        listed = dict(zip(keys, pool.map(lambda k: _checked_listing(odb, folders[k], names[k]), keys)))
        wanted = sorted({md5 for got in listed.values() if not isinstance(got, NodeFailed) for _, md5 in got[1]})

        def size(md5: str) -> int | NodeFailed:  # -1: not on the remote
            try:
                return int(odb.fs.info(odb.oid_to_path(md5))["size"])
            except FileNotFoundError:
                return -1
            except Exception as exc:  # a lost connection, a refused read
                return NodeFailed(f"cannot ask the DVC remote for the object {md5}: {_redacted(exc)}",
                                  "check the remote and this machine's credentials for it (docs/remotes.md)")

        sizes = dict(zip(wanted, pool.map(size, wanted)))
    outcome: dict[str, NodeFailed | bytes] = {}
    for key, got in listed.items():
        if isinstance(got, NodeFailed):
            outcome[key] = got
            continue
        data, entries = got
        found = [(rel, md5, sizes[md5]) for rel, md5 in entries]
        failed = next((s for _, _, s in found if isinstance(s, NodeFailed)), None)
        missing = next((f"{names[key]}/{rel} ({md5})" for rel, md5, s in found if s == -1), None)
        total = sum(s for _, _, s in found if not isinstance(s, NodeFailed))
        if failed is not None:
            outcome[key] = failed
        elif missing is not None:
            outcome[key] = NodeFailed(f"the DVC remote holds no object for {missing}", _HINT_MISSING, retryable=False)
        elif total != folders[key].size:
            outcome[key] = NodeFailed(f"the remote's files of {folders[key].oid} add up to {total} bytes, the "
                                      f"task reported {folders[key].size}", _HINT_DAMAGED, retryable=False)
        else:
            outcome[key] = data
    return outcome


def push_file(address: RemoteAddress | Any, path: Path, md5: str | None = None) -> str:
    """Send one file to the remote under its md5 (``md5``: already computed from these very bytes); its md5."""
    from dvc_objects.fs.local import LocalFileSystem

    odb = remote_of(address) if isinstance(address, RemoteAddress) else address
    md5 = md5 or file_md5(path)
    odb.add(os.fspath(path), LocalFileSystem(), md5)
    return md5


def push_folder(address: RemoteAddress | Any, folder: Path, what: str) -> Manifest:
    """Hash ``folder`` as ``dvc add`` does and send its objects to the remote; its Manifest.

    An output with no files is refused: a step that wrote nothing (or wrote elsewhere) must not
    land an empty folder that ``plan`` would then call unchanged.
    """
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import get_odb
    from dvc_data.hashfile.transfer import transfer
    from dvc_data.hashfile.tree import Tree
    from dvc_objects.fs.local import LocalFileSystem

    from runners.dvc_commit import DataLayerErrors, forgetting_digests

    odb = remote_of(address) if isinstance(address, RemoteAddress) else address
    fs = LocalFileSystem()
    base = get_odb(fs, os.fspath(folder.parent / f".{folder.name}.objects"), hash_name="md5")  # names build's memfs staging
    with forgetting_digests():
        staging, meta, obj = build(base, os.fspath(folder), fs, "md5") if folder.is_dir() else (None, None, None)
        if not isinstance(obj, Tree) or not meta.nfiles:
            raise NodeFailed(f"{what} produced no output files", "a step writes everything it produces under its output "
                             "folder (ctx.out); this is a bug in the step: report it", retryable=False)
        missing: set[Any] = set()
        with DataLayerErrors() as kept:
            result = transfer(staging, odb, {obj.hash_info}, shallow=False,
                              validate_status=lambda status: missing.update(status.missing))
    if result.failed or missing:
        cause = kept.errors[0] if kept.errors else None
        raise NodeFailed(f"the DVC remote did not take {what}'s output" + (f": {_redacted(cause)}" if cause else ""),
                         "check the remote's free space and this worker's credentials for it (docs/remotes.md)")
    return Manifest(obj.hash_info.value, int(meta.size or 0), int(meta.nfiles))
