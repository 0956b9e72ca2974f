"""What runs inside a Ray worker: fetch a node's inputs by md5, run its step in private scratch, push its outputs.

The worker never reads or writes the driver's working tree (there may be none on this node):
each ``Job`` names the objects to fetch from the DVC remote (runners/objects.py) and a
StepContext built on the driver, which is moved onto a scratch folder of this worker
(``LLMOPS_SCRATCH``, else the system's temp folder) and removed when the step is done. Every
outcome becomes a plain ``Outcome``: the driver lands a node only from its manifest.

Kept apart from runners/apply.py so a worker imports only this, the step's module and what
its context unpickles into, not the driver's machinery (compiler, the lock).
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runners.step import GateFailed, NodeFailed, Outcome, StepContext, StepResult

OUT = Path(".llmops") / "out"  # a step's output folder inside its scratch: no project path starts with .llmops


@dataclass(frozen=True)
class Job:
    """One node for a task: its step module, its context (driver paths), and what to fetch where (project paths)."""

    module: str
    ctx: StepContext
    remote: Any                                   # runners.remote_odb.RemoteAddress
    objects: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def run_step(module: str, ctx: StepContext) -> tuple[StepResult | None, NodeFailed | None, bool]:
    """Run one step: (its result, its failure, whether the failure is a gate's verdict); never raises."""
    try:
        return importlib.import_module(module).run(ctx), None, False
    except GateFailed as exc:
        return StepResult(metrics={"passed": False, "n": exc.verdict.get("n")}), exc, True
    except NodeFailed as exc:
        return None, exc, False
    except MemoryError:
        return None, NodeFailed(f"{ctx.node} ran out of memory",
                                "give it more: resources.memory_gb, or a smaller batch_size"), False
    except Exception as exc:  # a bug in a step: say where, briefly (no Ray-wrapped tracebacks)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return None, NodeFailed(f"{type(exc).__name__}: {exc} (at {Path(frame.filename).name}:{frame.lineno})",
                                "this looks like a bug in llmops; rerun with LLMOPS_DEBUG=1 and report it"), False


SCRATCH_PREFIX = "llmops-node-"


def new_scratch() -> Path:
    """A private folder for one node (``llmops-node-<pid>-*``), after clearing those of worker processes now dead.

    A task cancelled by force (Ctrl-C on apply) or a worker killed mid-node never reaches its
    ``finally``: what it fetched and half-wrote stays until the next task on this machine clears it.
    A folder whose process still runs, or that is not this user's, is left alone.
    """
    base = Path(os.environ.get("LLMOPS_SCRATCH") or tempfile.gettempdir())
    for stale in base.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = stale.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        try:
            if not pid.isdigit() or stale.is_symlink() or stale.lstat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:  # alive under another user, or unreadable: not ours to clear
            continue
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))


def run_job(job: Job) -> Outcome:
    """Fetch, run, push: one node in a scratch folder of its own, removed whatever happens."""
    from runners.objects import fetch_many, push_folder
    from runners.staging import rebased

    transfer: dict[str, float] = {}
    scratch = new_scratch()
    try:
        started = time.perf_counter()
        transfer["fetched_bytes"] = fetch_many(job.remote, job.objects, scratch, job.names)
        transfer["fetch_s"] = time.perf_counter() - started
        ctx = rebased(job.ctx, scratch, scratch / OUT)
        ctx.out.mkdir(parents=True)
        result, failure, gate = run_step(job.module, ctx)
        if result is None:
            return Outcome.failure(failure, transfer)
        started = time.perf_counter()
        manifest = push_folder(job.remote, ctx.out, ctx.node)
        transfer["push_s"], transfer["pushed_bytes"] = time.perf_counter() - started, manifest.size
        if gate:
            return Outcome("gate-failed", result, manifest, failure.message, failure.hint or "", False, transfer)
        return Outcome("applied", result, manifest, transfer=transfer)
    except NodeFailed as exc:
        return Outcome.failure(exc, transfer)
    except Exception as exc:  # the data layer's own error while fetching or pushing: the node's, not the task's
        return Outcome.failure(NodeFailed(f"{job.ctx.node}: moving its artifacts failed: {type(exc).__name__}: "
                                          f"{str(exc)[:300]}", "check the DVC remote and this worker's access to it"),
                               transfer)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_jobs(jobs: list[Job]) -> list[Outcome]:
    """The Ray task: each job in turn; one Outcome per job, in order."""
    return [run_job(job) for job in jobs]
