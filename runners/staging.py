"""What a node's task is sent to fetch: every object its step reads, by md5, on the DVC remote before it runs.

The driver decides, for each node, which paths of the project its step reads and the md5 that
names each one's content:
- an upstream artifact: the md5 the lock records for its folder (for a dataset split, only that
  file of the folder, from the folder's listing);
- a source the spec reads from the repository (a Dataset's ``source.path``, a Model's
  ``base.path``): each regular file inside the repository, hashed now and, when the remote does
  not hold it yet, uploaded from a snapshot copy (a file edited while it uploads is not sent under
  a stale name).

Sources are checked against the fingerprint the plan showed: data edited after ``plan`` (or
during ``apply``) is refused, never trained on unreviewed. An upstream object the remote lost is
pushed again from the driver's DVC cache when it holds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.data_hash import folder_digest
from compiler.fingerprint import Fingerprint, data_sources
from compiler.graph import Node
from compiler.paths import resolve_inside, walk_inside
from compiler.project import Project
from runners.step import NodeFailed, StepContext


@dataclass(frozen=True)
class TaskObjects:
    """For one node: project path -> the md5 to fetch there, and what each is called in messages."""

    objects: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def _artifact_rel(store: Any, path: Path) -> tuple[str, str | None]:
    """(the artifact folder's path relative to the project, the file inside it or None) for an input path."""
    rel = path.relative_to(store.root).as_posix()
    parts = rel.split("/")
    folder = "/".join(parts[:4])  # artifacts/<kind>/<name>/<step>
    return folder, ("/".join(parts[4:]) or None)


def upstream_objects(ctx: StepContext, recorded: Mapping[str, str], store: Any) -> TaskObjects:
    """The md5 of every artifact ``ctx`` reads (``ctx`` built on the driver's root), from ``recorded``: each artifact
    folder the lock pins -> its md5."""
    from runners.verified_read import listed_md5, read_object

    objects, names = {}, {}
    for reference, path in ctx.inputs.items():
        folder, inner = _artifact_rel(store, path)
        md5 = recorded.get(folder)
        if md5 is None:
            raise NodeFailed(f"{ctx.node}: its input {reference} ({folder}) is not in llmops.lock",
                             "this is a bug in apply: report it", retryable=False)
        if inner is None:
            objects[folder], names[folder] = md5, reference
            continue
        listing = read_object(store, md5)
        file_md5 = listed_md5(listing, inner) if listing is not None else None
        if file_md5 is None:
            raise NodeFailed(f"{ctx.node}: its input {reference} ({folder}/{inner}) is not in the artifact {md5}",
                             "run `llmops pull`, or re-apply the node that produces it", retryable=False)
        objects[f"{folder}/{inner}"], names[f"{folder}/{inner}"] = file_md5, reference
    _ensure_on_remote(store, objects, names)
    return TaskObjects(objects, names)


def _ensure_on_remote(store: Any, objects: dict[str, str], names: dict[str, str]) -> None:
    """Push from the driver's DVC cache any upstream object the remote no longer holds (a lost or pruned object)."""
    remote = store.remote()
    cache = store.repo.cache.local
    for rel, oid in objects.items():
        if remote.exists(oid):
            continue
        if not cache.exists(oid):
            raise NodeFailed(f"neither the DVC remote nor this machine's DVC cache holds {oid} ({names[rel]})",
                             "re-apply the node that produces it (`llmops plan` shows it), or push it from a machine "
                             "that has it (`dvc push`)", retryable=False)
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.transfer import transfer

        transfer(cache, remote, {HashInfo("md5", oid)}, shallow=False)


def staged_sources(project: Project, node: Node, store: Any, fingerprint: Fingerprint) -> TaskObjects:
    """Stage on the remote every source file ``node`` reads; refused when one is not what the plan fingerprinted."""
    root = project.root.resolve()
    objects, names = {}, {}
    for written in data_sources(project, node):
        target = resolve_inside(root, written)
        if target is None or not os.path.lexists(target):
            continue  # the step says what is missing, with its own hint (a DVC-tracked file not pulled)
        if target.is_dir():
            files, refused = walk_inside(root, target)
            if refused:
                continue  # the step refuses the folder with the entry's own reason
        else:
            files = [target]
        pairs = []
        for file in files:
            rel = file.relative_to(root).as_posix()
            md5 = _stage_file(store, root, file, node.id)
            objects[rel], names[rel] = md5, f"{written} ({rel})"
            pairs.append((file.relative_to(target).as_posix() if target.is_dir() else rel, md5))
        planned = fingerprint.data.get(written)
        if written in fingerprint.data and planned not in _digests(pairs, target.is_dir()):
            raise NodeFailed(f"{node.id}: {written} changed since the plan was made (its content is not what the plan "
                             "fingerprinted)", "plan again (llmops plan -o plan.json), review it, and apply that plan",
                             retryable=False)
    return TaskObjects(objects, names)


def _digests(pairs: list[tuple[str, str]], is_folder: bool) -> set[str]:
    """The hashes a plan may have fingerprinted this content as: llmops' own, or the md5 a ``.dvc`` file records."""
    if not is_folder:
        return {pairs[0][1]} if pairs else set()
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree

    tree = Tree()
    for rel, md5 in pairs:
        tree.add(tuple(rel.split("/")), Meta(), HashInfo("md5", md5))
    tree.digest()
    return {folder_digest(pairs), tree.hash_info.value}


def _stage_file(store: Any, root: Path, file: Path, node: str) -> str:
    """The md5 of a source file, uploaded to the remote unless it holds it: a snapshot copy is hashed and sent."""
    from runners.objects import push_file

    rel = file.relative_to(root).as_posix()
    md5 = _read(node, rel, lambda: _md5(root, file))
    snapshot = store.scratch() / f"stage-{os.getpid()}-{md5}"
    try:
        remote = store.remote()
        if remote.exists(md5):
            return md5
        if _read(node, rel, lambda: _md5(root, file, snapshot)) != md5:
            raise NodeFailed(f"{node}: {rel} changed while apply read it", "let the writer finish, then apply again",
                             retryable=False)
        push_file(remote, snapshot, md5)
    except NodeFailed:
        raise
    except Exception as exc:  # the remote's refusal, an unreachable endpoint: told as every remote problem is
        raise store.remote_failure(exc, f"{node}: cannot stage {rel} on the DVC remote",
                                   "check the DVC remote (`dvc remote list`) and its credentials") from None
    finally:
        snapshot.unlink(missing_ok=True)
    return md5


def _md5(root: Path, file: Path, copy: Path | None = None) -> str:
    """The md5 of a regular file inside ``root`` (compiler/safe_read.py), written to ``copy`` as it is read."""
    from compiler.safe_read import open_regular

    digest = hashlib.md5(usedforsecurity=False)
    with open_regular(file, None, root) as src, (open(copy, "wb") if copy else contextlib.nullcontext()) as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            if dst is not None:
                dst.write(block)
    return digest.hexdigest()


def _read(node: str, rel: str, read: Any) -> str:
    from compiler.safe_read import ReadRefused

    try:
        return read()
    except (OSError, ReadRefused) as exc:
        raise NodeFailed(f"{node}: cannot read {rel}: {exc}", "data is read only from regular files inside the "
                         "repository", retryable=False) from None


def rebased(ctx: StepContext, root: Path, out: Path) -> StepContext:
    """``ctx`` with its root, output folder and inputs moved from the driver's project to ``root`` (a worker's scratch)."""
    from dataclasses import replace

    old = ctx.root
    inputs = {key: root / path.relative_to(old) for key, path in ctx.inputs.items()}
    return replace(ctx, root=root, out=out, inputs=inputs)

