"""A node's task as apply sends it, for tests that run one step in Ray without apply: its inputs on a folder remote."""

from __future__ import annotations

from pathlib import Path

from runners.objects import push_file
from runners.remote_odb import RemoteAddress
from runners.step import StepContext
from runners.worker import Job


def job_of(module: str, ctx: StepContext, remote: Path) -> Job:
    """``ctx``'s input files (existing ones, under ``ctx.root``) sent to the folder remote ``remote``, as a Job."""
    address = RemoteAddress(str(remote))
    objects = {}
    for path in ctx.inputs.values():
        if path.is_file():
            objects[path.relative_to(ctx.root).as_posix()] = push_file(address, path)
    return Job(module, ctx, address, objects)
