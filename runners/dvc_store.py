"""DVC versions every artifact; it never runs the graph (Ray does).

One ``dvc.repo.Repo`` per process, and every call under one lock: the Repo object is not
thread-safe. Artifacts live under ``<project>/artifacts/<kind>/<name>/<step>/``. The task
that makes one pushes it to the project's remote (runners/objects.py); ``land`` brings it
from there into the workspace, versioned as ``dvc add`` versions a folder (its ``.dvc`` file
is committed beside it, the data is not; runners/dvc_commit.py does it through DVC's data
layer), and the lock pins the folder's DVC md5.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from runners.remote import committed_refusal, endpoint_problem, failure, redact, scheme, url_problem
from runners.step import NodeFailed

ARTIFACTS = "artifacts"
DEFAULT_REMOTE_NAME = "llmops"
_LOCK = threading.Lock()


def default_remote() -> Path:
    """Where artifacts are pushed when the project names no remote: one content-addressed store per user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmops" / "dvc-remote"


def _git_toplevel(root: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return Path(out.stdout.strip()).resolve()


@dataclass
class Store:
    """The project's DVC repository, opened once."""

    root: Path
    _repo: object | None = None
    _remote: object | None = None  # the default remote's odb, looked up once

    @property
    def repo(self):  # noqa: ANN201 - dvc.repo.Repo, imported lazily
        if self._repo is None:
            from dvc.repo import Repo

            if not (self.root / ".dvc").is_dir():
                raise NodeFailed(f"{self.root} is not a DVC repository yet", "run `llmops init` first", retryable=False)
            import logging

            logging.getLogger("dvc").setLevel(logging.WARNING)
            repo = Repo(str(self.root))
            refused = committed_refusal(repo.config.read("repo"))
            if refused is not None:  # before anything talks to the remote
                repo.close()
                raise NodeFailed(*refused, retryable=False)
            repo.scm_context.quiet = True  # llmops says what to commit, once, at the end
            self._repo = repo
        return self._repo

    def remote_settings(self) -> tuple[str, str | None]:
        """The default remote's URL and endpoint URL (None when it has none), as the merged DVC config says
        (``RemoteAddress``, what a worker is sent); an empty URL without a default remote, or one it names that is absent."""
        from dvc.config import NoRemoteError

        from runners.remote_odb import RemoteAddress

        try:
            address = RemoteAddress.of(self.repo)
        except (NoRemoteError, KeyError):
            return "", None
        return address.url, dict(address.options).get("endpointurl")

    def remote_failure(self, exc: BaseException, what: str, hint: str, retryable: bool = True,
                       logged: list[BaseException] | tuple = (), told_alone: bool = False) -> NodeFailed:
        """``exc`` as the node's failure: the remote's own problem (credentials, endpoint, bucket) when it or an error
        DVC only ``logged`` is one (after ``what``, unless ``told_alone``); redacted."""
        try:
            url, endpoint = self.remote_settings()
        except Exception:  # the config itself is broken: DVC's message says how
            url, endpoint = "", None
        told = next((t for t in (failure(e, url, endpoint) for e in (exc, *logged)) if t), None) if url else None
        if told is not None:
            return NodeFailed(redact(told[0] if told_alone else f"{what}: {told[0]}"), told[1], retryable=False)
        return NodeFailed(redact(f"{what}: {exc}"), hint, retryable=retryable)

    def check_remote(self) -> None:
        """Ask a cloud remote whether these credentials may read it, before any node runs (a local folder is not asked).

        A node that trains for an hour then cannot push has wasted the hour: missing or refused
        credentials, an unreachable endpoint or a missing bucket are told up front, each with its hint.
        """
        url, _ = self.remote_settings()
        if scheme(url) == "":
            return
        from runners.dvc_commit import remote_odb

        with _LOCK:
            try:
                if self._remote is None:
                    self._remote = remote_odb(self.repo)
                fs, path = self._remote.fs, self._remote.path
                if not fs.exists(path) and scheme(url) == "s3" and not fs.exists(path.split("/", 1)[0]):
                    raise FileNotFoundError("NoSuchBucket: the bucket does not exist")
            except NodeFailed:
                raise
            except Exception as exc:
                raise self.remote_failure(exc, "DVC cannot use its remote", "check the DVC remote (`dvc remote list`)",
                                          retryable=False, told_alone=True) from None

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None
            self._remote = None

    def artifact_dir(self, resource: str, step: str) -> Path:
        kind, name = resource.split("/", 1)
        return self.root / ARTIFACTS / kind.lower() / name / step

    def remote(self):  # noqa: ANN201 - dvc_data's HashFileDB
        """The default remote's object database (what ``dvc push`` writes), opened once."""
        from runners.dvc_commit import remote_odb

        with _LOCK:
            if self._remote is None:
                self._remote = remote_odb(self.repo)
            return self._remote

    def address(self):  # noqa: ANN201 - runners.remote_odb.RemoteAddress
        """The default remote as a task is sent it: its URL and options, no credential."""
        from runners.remote_odb import RemoteAddress

        with _LOCK:
            return RemoteAddress.of(self.repo)

    def scratch(self) -> Path:
        """Apply's own temp folder, ``.llmops/tmp/`` (git-ignored, on the project's filesystem)."""
        from compiler.llmops_dir import llmops_dir

        try:
            return llmops_dir(self.root, "tmp")
        except OSError as exc:
            raise NodeFailed(f"cannot make apply's temp folder: {exc}",
                             "remove .llmops if it is a symlink or a file; llmops recreates it") from None

    def land(self, final: Path, manifest: object) -> str:
        """Land one folder a task pushed (``land_many`` of one); returns its md5, raises NodeFailed."""
        (outcome,) = self.land_many({"": (final, manifest)}).values()
        if isinstance(outcome, NodeFailed):
            raise outcome
        return outcome

    def land_many(self, items: dict[str, tuple[Path, object]], fetch: bool = True) -> dict[str, str | NodeFailed]:
        """Land folders tasks pushed (``key -> (final, Manifest)``): per key, its md5, or why it was not landed
        (the others land). Each gets its ``.dvc`` file, as ``dvc add`` + ``dvc push`` would leave it.

        ``fetch``: the folder is brought from the remote into the DVC cache and the workspace, landed only
        when what came hashes to the manifest's md5, size and file count, and replaces ``final`` in one
        rename (as ``dvc pull`` would leave it). The folders of a batch are fetched in one pool and their
        links recorded in one write of DVC's state. Else the remote is checked in place
        (``objects.verify_folders``: no file crosses the network), the listing alone is kept in the DVC
        cache, and ``final`` is cleared of an older version (the workspace never contradicts its ``.dvc``
        file): ``llmops pull`` brings the files when they are wanted here.
        """
        from compiler.paths import is_real_inside

        results: dict[str, str | NodeFailed] = {}
        landable: dict[str, tuple[Path, object]] = {}
        for key, (final, manifest) in items.items():
            if not is_real_inside(self.root, final):  # artifacts/ or a folder of it is a link elsewhere
                results[key] = NodeFailed(f"{self._rel(final)} is not a folder of the repository (a symlink on the way "
                                          "leads elsewhere)", "remove the symlink: llmops writes artifacts only inside "
                                          "the repository", retryable=False)
            else:
                landable[key] = (final, manifest)
        names = {key: self._rel(final) for key, (final, _) in landable.items()}
        remote = self.remote()  # under _LOCK itself: not within the landing below
        try:
            results.update((self._fetched if fetch else self._verified)(landable, names, remote))
        except NodeFailed:
            raise
        except Exception as exc:  # DvcException and OSError alike: the nodes' outputs are not safe yet
            failed = self.remote_failure(exc, f"DVC could not land {', '.join(names.values())}",
                                         "check the DVC remote (`dvc remote list`) and free disk space")
            results.update({key: failed for key in landable if not isinstance(results.get(key), str)})
        return results

    @staticmethod
    def _not_landed(name: str, why: NodeFailed) -> NodeFailed:
        return NodeFailed(f"{name} was not landed: {why.message}",
                          "the task's outputs did not reach the DVC remote intact; rerun apply (the node runs again)")

    def _fetched(self, landable: dict[str, tuple[Path, object]], names: dict[str, str],
                 remote: object) -> dict[str, str | NodeFailed]:
        from runners.dvc_commit import LinkLog
        from runners.objects import fetch_folders

        results: dict[str, str | NodeFailed] = {}
        fetching = {}
        for key, (_, manifest) in landable.items():
            tmp = self.scratch() / f"land-{manifest.oid.removesuffix('.dir')}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            fetching[key] = (manifest, tmp)
        try:
            with _LOCK:
                fetched = fetch_folders(remote, fetching, names)
                with self.repo.lock:
                    links = LinkLog(self.repo.state)
                    for key, got in fetched.items():
                        (manifest, tmp), final = fetching[key], landable[key][0]
                        results[key] = (self._not_landed(names[key], got) if isinstance(got, NodeFailed)
                                        else self._commit(tmp, final, manifest, names[key], links))
                    links.save()  # dvc checkout knows each folder as a link it made, as after dvc add
        finally:
            for _, tmp in fetching.values():
                shutil.rmtree(tmp, ignore_errors=True)
        return results

    def _verified(self, landable: dict[str, tuple[Path, object]], names: dict[str, str],
                  remote: object) -> dict[str, str | NodeFailed]:
        from dvc_data.hashfile.hash_info import HashInfo

        from runners.dvc_commit import Committed, write_dvc_file
        from runners.objects import verify_folders

        results: dict[str, str | NodeFailed] = {}
        checked = verify_folders(remote, {key: manifest for key, (_, manifest) in landable.items()}, names)
        with _LOCK, self.repo.lock:
            for key, got in checked.items():
                if isinstance(got, NodeFailed):
                    results[key] = self._not_landed(names[key], got)
                    continue
                final, manifest = landable[key]
                self.repo.cache.local.add_bytes(manifest.oid, got)  # the tree is known here; its files stay on the remote
                _clear(final)
                write_dvc_file(self.repo, Committed(final, HashInfo("md5", manifest.oid), manifest.size, manifest.nfiles))
                results[key] = manifest.oid
        return results

    def _commit(self, tmp: Path, final: Path, manifest: object, rel: str, links: object) -> str | NodeFailed:
        """Hash a fetched folder into the cache, rename it into place and write its ``.dvc`` file: its md5, or why
        it does not match its manifest (then nothing of it is in the workspace)."""
        from dataclasses import replace

        from runners.dvc_commit import commit_to_cache, write_dvc_file

        committed = commit_to_cache(self.repo, tmp, links)
        if (committed.md5, committed.nfiles, committed.size) != (manifest.oid, manifest.nfiles, manifest.size):
            return NodeFailed(f"{rel} was not landed: what the remote holds ({committed.md5}, {committed.nfiles} "
                              f"files) is not what the task reported ({manifest.oid}, {manifest.nfiles} files)",
                              "rerun apply (the node runs again)")
        _clear(final)
        tmp.rename(final)
        links.moved(tmp, final)
        write_dvc_file(self.repo, replace(committed, folder=final))
        return committed.md5

    def _rel(self, folder: Path) -> str:
        return str(folder.relative_to(self.root))

    def recorded_md5(self, folder: Path) -> str | None:
        """The md5 of ``folder`` as its committed .dvc file records it, or None."""
        dvc_file = folder.with_name(folder.name + ".dvc")
        try:
            text = dvc_file.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            line = line.strip().lstrip("- ")
            if line.startswith("md5:"):
                return line.split(":", 1)[1].strip()
        return None

    def restore(self, folders: list[Path]) -> None:
        """Make ``folders`` present in the workspace: checkout from the cache, else pull from the remote."""
        missing = [f for f in folders if not f.is_dir()]
        if not missing:
            return
        with _LOCK:
            from runners.dvc_commit import DataLayerErrors

            targets = [str(f.with_name(f.name + ".dvc")) for f in missing]
            kept = DataLayerErrors()
            try:
                with kept:
                    self.repo.pull(targets)
            except NodeFailed:
                raise
            except Exception as exc:
                names = ", ".join(str(f.relative_to(self.root)) for f in missing)
                raise self.remote_failure(exc, f"DVC could not restore {names}", "run `llmops pull`, or check that the "
                                          "DVC remote holds them", retryable=False, logged=kept.errors) from None

    def forget(self, folder: Path) -> None:
        """Stop tracking an artifact whose resource is gone (the cache and remote keep it for audits)."""
        with _LOCK:
            dvc_file = folder.with_name(folder.name + ".dvc")
            if dvc_file.exists():
                try:
                    self.repo.remove(str(dvc_file), outs=True)
                except Exception:
                    dvc_file.unlink(missing_ok=True)
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
            ignore = folder.parent / ".gitignore"
            if ignore.exists():
                kept = [line for line in ignore.read_text().splitlines() if line.strip() != f"/{folder.name}"]
                ignore.write_text("".join(f"{line}\n" for line in kept)) if kept else ignore.unlink()
            for parent in (folder.parent, folder.parent.parent):
                if parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()


class RemoteRefused(ValueError):
    """A remote ``init`` will not write: its URL or endpoint carries a credential, or they do not fit together."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def _clear(final: Path) -> None:
    """Make way for an artifact folder at ``final`` (an older version, a file or a link there goes; its parent is made)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.is_symlink() or final.is_file():
        final.unlink()
    elif final.exists():
        shutil.rmtree(final)


def check_remote_settings(remote: str | None, endpoint_url: str | None) -> None:
    """Refuse (``RemoteRefused``) a remote URL or endpoint that ``init`` must not commit to .dvc/config."""
    problem = url_problem(remote) if remote else None
    if problem is None and endpoint_url is not None:
        problem = endpoint_problem(endpoint_url, remote or "") if remote else "--endpoint-url needs --remote s3://BUCKET/PREFIX"
    if problem is not None:
        raise RemoteRefused(problem, "give the URL without credentials; they come from the environment "
                                     "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; docs/remotes.md)")
    if remote and scheme(remote) == "s3":
        import importlib.util

        if importlib.util.find_spec("dvc_s3") is None:
            raise RemoteRefused("an s3:// remote needs DVC's S3 plugin (dvc-s3), which is not installed",
                                "pip install 'llmops-spec[run]' (it brings dvc-s3)")


def init_project(root: Path, remote: str | None = None, endpoint_url: str | None = None) -> list[str]:
    """Make ``root`` a DVC repository with a default local remote; returns what was done, one line each.

    ``remote`` (a folder or a URL such as ``s3://bucket/prefix``) replaces the remote ``llmops``;
    ``endpoint_url`` names an S3-compatible server, written as DVC's ``endpointurl``. Neither may
    carry a credential (``RemoteRefused``): .dvc/config is committed.
    """
    from dvc.repo import Repo

    check_remote_settings(remote, endpoint_url)
    done: list[str] = []
    root = root.resolve()
    if not (root / ".dvc").is_dir():
        top = _git_toplevel(root)
        Repo.init(str(root), no_scm=top is None, subdir=top is not None and top != root)
        done.append(f"initialized DVC in {root}" + ("" if top else " (no git repository: without SCM)"))
    repo = Repo(str(root))
    try:
        with repo.config.edit() as conf:
            remotes = conf.get("remote", {})
            if remote is not None or not remotes:
                url = remote or str(default_remote())
                Path(url).mkdir(parents=True, exist_ok=True) if "://" not in url else None
                conf["remote"][DEFAULT_REMOTE_NAME] = {"url": url, **({"endpointurl": endpoint_url} if endpoint_url else {})}
                conf["core"]["remote"] = DEFAULT_REMOTE_NAME
                done.append(f"DVC remote {DEFAULT_REMOTE_NAME} -> {url}" + (f" at {endpoint_url}" if endpoint_url else ""))
            elif not conf.get("core", {}).get("remote"):
                conf["core"]["remote"] = next(iter(remotes))
    finally:
        repo.close()
    (root / ARTIFACTS).mkdir(exist_ok=True)
    ignore = root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if "/.llmops/" not in lines:  # caches, the state lock's holder, the local cluster's token: never in git
        ignore.write_text("".join(f"{line}\n" for line in [*lines, "/.llmops/"]))
        done.append("ignored .llmops/ in .gitignore")
    return done


def remote_is_local(root: Path) -> bool:
    """Whether the project's default remote is a folder, read from its DVC configs without opening DVC (milliseconds)."""
    from compiler.safe_read import MAX_SPEC_BYTES, ReadRefused, read_regular
    from runners.remote import configured_url

    texts = []
    for name in ("config", "config.local"):
        try:
            texts.append(read_regular(root / ".dvc" / name, MAX_SPEC_BYTES, root).decode("utf-8", "replace"))
        except FileNotFoundError:
            continue
        except (OSError, ReadRefused):
            return False
    url = configured_url(texts)
    return url is not None and scheme(url) == ""
