"""The remote as a process without the project opens it: an address to send, an object database to read and write.

A Ray worker on another node has no checkout and no ``.dvc/config``; it gets the remote's
``RemoteAddress`` (the URL and the options DVC reads for it, credentials left out: a value a
task carries is kept in the cluster's metadata) and opens the same object database that
``dvc push`` writes (``<url>/files/md5``), with the credentials of its own environment
(runners/remote.py says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runners.remote import SECRET_OPTIONS


@dataclass(frozen=True)
class RemoteAddress:
    """Where the default remote is and how to talk to it, minus any credential: JSON-able, safe to send to a task."""

    url: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, repo: Any, name: str | None = None) -> RemoteAddress:
        """The address of ``repo``'s remote ``name`` (default: the project's default remote), as DVC's merged config says."""
        from dvc.config import NoRemoteError

        config = repo.config
        name = name or config["core"].get("remote")
        if not name:
            raise NoRemoteError("the project has no default DVC remote: run `llmops init`")
        options = dict(config["remote"][name])
        url = str(options.pop("url"))
        kept = tuple(sorted((key, value) for key, value in options.items() if key not in SECRET_OPTIONS))
        return cls(url, kept)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemoteAddress:
        options = {k: v for k, v in dict(data.get("options") or {}).items() if k not in SECRET_OPTIONS}
        return cls(str(data["url"]), tuple(sorted(options.items())))


def open_remote(address: RemoteAddress) -> Any:
    """The remote's object database (``dvc_data`` HashFileDB), as ``dvc push`` writes it, opened without a repository."""
    from dvc.fs import get_cloud_fs
    from dvc_data.hashfile.db import get_odb

    cls, config, fs_path = get_cloud_fs({}, url=address.url, **dict(address.options))
    fs = cls(**config)
    return get_odb(fs, fs.join(fs_path, "files", "md5"), hash_name="md5", **config)
