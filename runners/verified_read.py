"""Reading one file of a versioned artifact by its md5, from DVC's content-addressed store, checked byte for byte.

What apply decides on (a gate's evaluation before a deployment) is read from the object
that the artifact's md5 names, never from the workspace folder or the lock's copy of the
numbers: the folder's ``.dir`` object (DVC's listing: ``[{"md5", "relpath"}, ...]``,
whose bytes hash to the folder's md5 without its ``.dir`` suffix) names the file's md5,
and the file's bytes must hash to it. The local cache is read first, then the project's
remote. A missing object or bytes that hash to something else are ``Unverified``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_MD5 = re.compile(r"[0-9a-f]{32}\Z")


class Unverified(Exception):
    """An artifact file cannot be read and checked against its md5."""


def object_matches(data: bytes, oid: str) -> bool:
    """Pure: ``data`` is the object ``oid`` names (a file md5, or a folder's ``<md5>.dir``)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest() == oid.removesuffix(".dir")


def listed_md5(listing: bytes, relpath: str) -> str | None:
    """Pure: the md5 a folder's ``.dir`` listing gives ``relpath``; None when it lists no such file."""
    try:
        entries = json.loads(listing)
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("relpath") == relpath:
            md5 = entry.get("md5")
            return md5 if isinstance(md5, str) and _MD5.match(md5) else None
    return None


def read_object(store: Any, oid: str) -> bytes | None:
    """The object's bytes from the local cache, else from the default remote; None when neither holds it."""
    from runners.dvc_commit import remote_odb

    repo = store.repo
    odbs = [repo.cache.local]
    try:
        odbs.append(remote_odb(repo))
    except Exception:  # no remote configured: the local cache is all there is
        pass
    for odb in odbs:
        try:
            data = odb.fs.cat_file(odb.oid_to_path(oid))
        except Exception:  # absent here (FileNotFoundError, or a remote's own error): try the next
            continue
        if data is not None:
            return data
    return None


def read_verified_file(store: Any, folder_md5: str, relpath: str) -> bytes:
    """The bytes of ``relpath`` inside the folder versioned as ``folder_md5``, checked against its md5."""
    if not isinstance(folder_md5, str) or not re.fullmatch(r"[0-9a-f]{32}\.dir", folder_md5):
        raise Unverified(f"{folder_md5!r} is not the md5 of a versioned folder")
    listing = read_object(store, folder_md5)
    if listing is None:
        raise Unverified(f"the DVC cache and remote hold no object {folder_md5}")
    if not object_matches(listing, folder_md5):
        raise Unverified(f"the DVC object {folder_md5} does not hash to its md5: it was altered")
    md5 = listed_md5(listing, relpath)
    if md5 is None:
        raise Unverified(f"the folder {folder_md5} holds no {relpath}")
    data = read_object(store, md5)
    if data is None:
        raise Unverified(f"the DVC cache and remote hold no object {md5} ({relpath})")
    if not object_matches(data, md5):
        raise Unverified(f"the DVC object {md5} ({relpath}) does not hash to its md5: it was altered")
    return data
