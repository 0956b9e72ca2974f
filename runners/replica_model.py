"""Where a Serve replica finds its model: fetched by md5 from the DVC remote into a folder of its own version.

A replica may run on any node of the cluster, none of which shares the driver's disk, so a
version's config names the model by its DVC md5 (``<md5>.dir``) and the remote's address
(runners/remote_odb.py ``RemoteAddress``: no credential; the replica's own environment has
those), never by a path. ``local_model`` fetches it (runners/objects.py ``fetch``, every byte
checked against its md5) into ``<tmp>/llmops-serve-<uid>/<version>-<md5>/``: a folder per
version, so an old and a new version of a canary never share one, and a restarted old replica
loads the old weights.

The fetch goes into a temp sibling, gets a marker once every file is in and checked, and is
renamed into place: a folder with its marker is complete and verified, and any later replica of
the version on the node loads it without fetching again. A failed fetch leaves nothing behind;
the temp sibling of a replica that was killed mid-fetch is removed by the next replica that
starts on the node (it names the dead process).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from runners.step import NodeFailed

MARKER = ".llmops-fetched"  # holds the md5 the folder was fetched and checked as; written last
_MD5_DIR = re.compile(r"[0-9a-f]{32}\.dir\Z")
_VERSION = re.compile(r"v-[0-9a-f]{12}\Z")
_TEMP = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+\Z")


def restorable(config: Any) -> bool:
    """Pure: a version's config names its model by md5 and remote (what this llmops writes), so a replica can load it
    anywhere; an older llmops's config names only the driver's folder (``model_dir``)."""
    if not isinstance(config, dict):
        return False
    remote = config.get("remote")
    return (isinstance(config.get("model_md5"), str) and bool(_MD5_DIR.match(config["model_md5"]))
            and isinstance(remote, dict) and isinstance(remote.get("url"), str) and bool(remote["url"]))


def cache_root() -> Path:
    """This user's folder of fetched models on this node, made private (0700) and refused when it is not ours."""
    root = Path(tempfile.gettempdir()) / f"llmops-serve-{os.getuid()}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(root)
    except OSError as exc:
        raise NodeFailed(f"cannot make the replicas' model folder {root}: {exc}", "free disk space in the temp folder, "
                         "or set TMPDIR for the Ray workers", retryable=False) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise NodeFailed(f"{root} is not a private folder of this user's (a symlink, another user's, or open to others)",
                         f"remove {root}; replicas make it again, mode 0700", retryable=False)
    return root


def local_model(version: str, config: dict[str, Any], root: Path | None = None) -> Path:
    """The folder of ``version``'s model artifact on this node (``model/``, ``llmops_model.json``), fetched if needed."""
    from runners.objects import fetch
    from runners.remote_odb import RemoteAddress

    if not _VERSION.match(version) or not restorable(config):
        raise NodeFailed(f"the replica of {version} is not told its model by md5 and remote (config {sorted(config)})",
                         "this version was recorded by an older llmops: apply again to roll out a version that is",
                         retryable=False)
    md5 = config["model_md5"]
    root = root or cache_root()
    final = root / f"{version}-{md5.removesuffix('.dir')}"
    if _complete(final, md5):
        return final
    _clear_dead(root, final.name)
    part = root / f".{final.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fetch(RemoteAddress.from_dict(config["remote"]), md5, part, what=f"the model of {version}")
        (part / MARKER).write_text(md5 + "\n")
        try:
            part.rename(final)
        except OSError:  # another replica of the version on this node renamed its fetch first, or junk is there
            if not _complete(final, md5):
                shutil.rmtree(final, ignore_errors=True)  # no fetch of ours (each is renamed whole): never trusted
                part.rename(final)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return final


def _complete(folder: Path, md5: str) -> bool:
    try:
        return (folder / MARKER).read_text().strip() == md5 and not folder.is_symlink()
    except OSError:
        return False


def _clear_dead(root: Path, name: str) -> None:
    """Remove the temp siblings of ``name`` whose replica process is gone (killed mid-fetch)."""
    for leftover in root.glob(f".{name}.tmp-*"):
        found = _TEMP.match(leftover.name)
        if found and not _alive(int(found["pid"])):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
