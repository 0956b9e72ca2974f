"""apply: execute a plan's changes on Ray, in dependency order, recording each node as it lands.

A loop over the plan, not a second planner (Terraform's contract). Independent nodes run
in parallel as Ray tasks with the resources their spec asks for (bookkeeping nodes, which
ask for none, share a few tasks: runners/scheduling.py); a deployment runs in this driver,
which talks to Serve. After every node: its artifact folder is renamed into place (a
half-written output is never seen), versioned by DVC, and the node is written to
llmops.lock atomically, so an apply killed at any moment resumes without redoing finished
nodes. Nodes that finish together are versioned and written together (one push, one lock
write), so many small nodes do not pay the fixed costs one by one. A failure is the node's
own message; a failed gate blocks what depends on it.

Write-ahead: before each lock write, a ``landing`` record naming the entries about to be
written goes to the apply log, so every lock entry is vouched for at every instant
(compiler/state_trust.py), even when the run is killed. A deployment proceeds only on a
verdict re-derived here from its gates' evaluations, read by md5 from DVC's store
(runners/verified_read.py), never on the lock's ``passed``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from compiler.compile import Compilation
from compiler.fingerprint import Fingerprint
from compiler.lockfile import Lock, LockEntry, read_lock
from runners.apply_log import LogWriter, landing_record
from runners.cluster import Cluster
from runners.deploy_gates import gates_block, model_binding
from runners.dvc_store import Store
from runners.node_context import BOOKKEEPING_STEPS, STEP_MODULES, input_folders, node_context, step_resources
from runners.scheduling import plan_tasks
from runners.state import LockWriter
from runners.step import NodeFailed, StepResult
from runners.task_resources import cluster_nodes, replica_request, unschedulable
from runners.worker import run_steps

EXIT_OK, EXIT_ERROR, EXIT_GATE_FAILED, EXIT_POLICY_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 4, 130


@dataclass
class NodeReport:
    node: str
    step: str
    status: str                  # applied | deleted | failed | gate-failed | blocked | already-applied
    summary: str = ""
    error: str = ""
    hint: str = ""
    seconds: float = 0.0
    attempts: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class ApplyReport:
    nodes: list[NodeReport] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for n in self.nodes if n.status == status)

    @property
    def result(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.count("failed"):
            return "failed"
        if self.count("gate-failed"):
            return "gate-failed"
        return "applied"

    @property
    def exit_code(self) -> int:
        return {"interrupted": EXIT_INTERRUPTED, "failed": EXIT_ERROR, "gate-failed": EXIT_GATE_FAILED}.get(self.result, EXIT_OK)


@dataclass(frozen=True)
class Landed:
    """A node whose step finished with an artifact: to be versioned and written to the lock."""

    node: str
    folder: Path
    result: StepResult
    report: NodeReport
    extra_outputs: dict[str, Any] = field(default_factory=dict)


class Attempt(NamedTuple):
    """A node sent to Ray: where its step writes, which attempt this is, when it was first sent."""

    nid: str
    tmp: Path
    attempt: int
    started: float


def _outcomes(ray: Any, ref: Any, count: int) -> list[tuple]:
    """The outcomes of a finished task's ``count`` steps; all failed when the task itself died (retries exhausted)."""
    try:
        return ray.get(ref)
    except Exception as exc:  # a system failure, not the steps'
        lost = ("failed", f"the Ray task was lost: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                "a worker or node died; rerun apply to resume", True)
        return [lost] * count


def identity(root: Path) -> tuple[str | None, str]:
    """The commit being applied and who applies it (LLMOPS_APPLIED_BY, else git's user, else the login)."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip() or None
        except (OSError, subprocess.CalledProcessError):
            return None

    who = os.environ.get("LLMOPS_APPLIED_BY")
    if not who:
        name, email = git("config", "user.name"), git("config", "user.email")
        who = f"{name} <{email}>" if name and email else (name or getpass.getuser())
    return git("rev-parse", "HEAD"), who


class Applier:
    """One apply of one plan. ``events`` receives (kind, node, NodeReport | None) for progress display."""

    def __init__(self, compilation: Compilation, plan: dict[str, Any], prints: dict[str, Fingerprint], store: Store,
                 cluster: Cluster, done: frozenset[str] = frozenset(),
                 events: Callable[[str, str, NodeReport | None], None] | None = None) -> None:
        self.project = compilation.project
        self.graph = compilation.graph
        self.plan = plan
        self.prints = prints
        self.store = store
        self.cluster = cluster
        self.done = done
        self.events = events or (lambda kind, node, report: None)
        self.commit, self.who = identity(self.project.root)
        self.report = ApplyReport()
        self.writer = LockWriter(self.project.root, read_lock(self.project.root)[0])  # under the state lock: only we write
        self.lock: Lock = self.writer.lock
        self.log = LogWriter(self.project.root)  # raises ApplyLogBroken: nothing runs on a log that does not verify
        self.run_id = uuid.uuid4().hex
        self.plan_hash = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
        self._actions = {c["node"]: c["action"] for c in plan["changes"]}
        self._dependents: dict[str, list[str]] = {}  # per node, the nodes waiting on it (set by _execute)
        self._nodes: list[dict[str, float]] = []  # the cluster's nodes' total resources (read by _execute)

    # ----------------------------------------------------------------- bookkeeping
    def _emit(self, kind: str, node: str, report: NodeReport | None = None) -> None:
        self.events(kind, node, report)

    def _finish(self, report: NodeReport) -> None:
        self.report.nodes.append(report)
        self._emit("finished", report.node, report)

    def _vouch(self, entries: dict[str, LockEntry | None], statuses: dict[str, str]) -> None:
        """Append the landing record for entries about to be written (None: deleted): before the lock write."""
        self.log.append(landing_record(self.run_id, self.who, self.commit, self.plan_hash, entries, self.lock.nodes,
                                       statuses, self._actions))

    def _land(self, landed: list[Landed]) -> None:
        """Version the folders of nodes that finished together, write them to the lock in one write, report them.

        One ``dvc add`` + ``dvc push`` and one lock write for the lot: DVC's and the lock's fixed costs
        are paid once per batch, not once per node, and a node counts as applied only once both are done.
        """
        if not landed:
            return
        md5s = self.store.track_many([item.folder for item in landed])
        applied_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entries = {}
        for item, md5 in zip(landed, md5s):
            node, fp = self.graph.nodes[item.node], self.prints[item.node]
            outputs = {str(item.folder.relative_to(self.project.root)): md5, **item.extra_outputs}
            entries[item.node] = LockEntry(fp.value, node.step, str(node.resource), fp.code, fp.spec, fp.inputs, fp.data,
                                           outputs, _jsonable(item.result.metrics), applied_at, self.commit, self.who)
        self._vouch(entries, {item.node: item.report.status for item in landed})  # write-ahead: the record first
        self.lock = self.writer.record(entries)
        for item in landed:
            self._finish(item.report)

    def _place(self, nid: str, tmp: Path) -> Path:
        """Rename a finished node's temp folder (under ``.llmops/tmp/``, same filesystem) over its artifact folder."""
        from compiler.paths import is_real_inside

        node = self.graph.nodes[nid]
        final = self.store.artifact_dir(str(node.resource), node.step)
        if not is_real_inside(self.project.root, final):  # artifacts/ or a folder of it is a link elsewhere
            raise NodeFailed(f"{final.relative_to(self.project.root)} is not a folder of the repository (a symlink "
                             "on the way leads elsewhere)", "remove the symlink: llmops writes artifacts only inside "
                             "the repository")
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        return final

    def _temp_dir(self, nid: str) -> Path:
        """An empty folder for ``nid``'s outputs under ``.llmops/tmp/`` (git-ignored): weights never sit where git sees them.

        A run killed mid-node (Ctrl-C during a fine-tune) leaves its folder there; the next run of the
        node clears it, and any temp folder an older llmops left beside the artifact folder.
        """
        from compiler.llmops_dir import llmops_dir
        from compiler.paths import is_real_inside

        node = self.graph.nodes[nid]
        kind, name = str(node.resource).split("/", 1)
        key = f"{kind.lower()}.{name}.{node.step}"  # names are [a-z0-9-]: the dots cannot be confused
        try:
            scratch = llmops_dir(self.project.root, "tmp")
        except OSError as exc:
            raise NodeFailed(f"cannot make apply's temp folder: {exc}",
                             "remove .llmops if it is a symlink or a file; llmops recreates it") from None
        final = self.store.artifact_dir(str(node.resource), node.step)
        stale = list(scratch.glob(f"{key}.tmp-*"))
        if is_real_inside(self.project.root, final.parent):
            stale += final.parent.glob(f".{final.name}.tmp-*")
        for leftover in stale:
            if leftover.is_symlink():
                leftover.unlink()
            else:
                shutil.rmtree(leftover, ignore_errors=True)
        tmp = scratch / f"{key}.tmp-{self.prints[nid].value[:8]}"
        tmp.mkdir()
        return tmp

    # ----------------------------------------------------------------- the loop
    def run(self) -> ApplyReport:
        changes = {c["node"]: c for c in self.plan["changes"]}
        for nid in sorted(self.done):
            self._finish(NodeReport(nid, changes[nid]["step"], "already-applied", "applied by an earlier, interrupted run"))
        todo = [nid for nid, c in changes.items() if c["action"] in ("create", "update") and nid not in self.done]
        deletes = [nid for nid, c in changes.items() if c["action"] == "delete" and nid not in self.done]
        try:
            self._delete(deletes)
            self._execute(todo)
        except KeyboardInterrupt:
            self.report.interrupted = True
        return self.report

    def _delete(self, nids: list[str]) -> None:
        for nid in nids:  # the plan orders them consumers first
            entry = self.lock.nodes.get(nid)
            started = time.perf_counter()
            if entry is None:
                continue
            summary = "artifact untracked (kept in the DVC cache for audits)"
            if entry.step == "deploy":
                from runners.steps.deploy import teardown

                app = (entry.outputs.get("serve") or {}).get("app") or entry.resource.split("/", 1)[1]
                summary = f"Serve application {app} deleted" if teardown(app) else f"Serve application {app} was not running"
            self.store.forget(self.store.artifact_dir(entry.resource, entry.step))
            self._vouch({nid: None}, {nid: "deleted"})
            self.lock = self.writer.forget(nid)
            self._finish(NodeReport(nid, entry.step, "deleted", summary, seconds=time.perf_counter() - started))

    def _execute(self, todo: list[str]) -> None:
        import ray

        remote = ray.remote(max_retries=3)(run_steps)  # max_retries: a worker or node that dies is retried elsewhere
        pending = set(todo)
        waiting_on = {nid: {d for d in self.graph.nodes[nid].inputs if d in pending} for nid in todo}
        for nid, deps in waiting_on.items():
            for dep in deps:
                self._dependents.setdefault(dep, []).append(nid)
        failed: set[str] = set()
        running: dict[Any, tuple[list[Attempt], bool]] = {}  # a task's nodes, and whether it is a shared bookkeeping task
        order = {nid: i for i, nid in enumerate(self.graph.nodes)}
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)))  # shared bookkeeping tasks in flight at most
        self._nodes = cluster_nodes(ray)  # what a node's request is checked against before it is sent
        warmed = False

        def start_ready(deploy: bool = True) -> None:
            """Send the nodes whose inputs have all landed to Ray (runners/scheduling.py), then run ready deployments here."""
            ready = sorted((n for n in pending if not waiting_on[n]), key=order.__getitem__)
            deploys = [n for n in ready if self.graph.nodes[n].step == "deploy"]
            bookkeeping = {n for n in ready if self.graph.nodes[n].step in BOOKKEEPING_STEPS}
            free = slots - sum(1 for _, shared in running.values() if shared)
            for group in plan_tasks([n for n in ready if n not in deploys], bookkeeping, free):
                pending.difference_update(group)
                ref, members = self._submit(remote, group)
                running[ref] = (members, group[0] in bookkeeping)
            for nid in deploys if deploy else ():
                pending.discard(nid)
                self._deploy(nid, failed)
                self._release(nid, waiting_on, failed)

        try:
            while pending or running:
                start_ready()
                if running and not warmed:  # while Ray starts workers for the first tasks
                    self.store.warm()
                    warmed = True
                self._block(pending, waiting_on, failed)
                if not running:
                    if pending and all(waiting_on[n] for n in pending):
                        raise RuntimeError(f"apply is stuck: {sorted(pending)} wait on nodes that never ran")
                    continue
                refs = list(running)
                if not ray.wait(refs, num_returns=1, timeout=1.0)[0]:
                    continue
                done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)  # all that are done by now: one batch
                landed, settled = [], []
                for ref in done:
                    members, _ = running.pop(ref)
                    for (nid, tmp, attempt, started), outcome in zip(members, _outcomes(ray, ref, len(members))):
                        result = self._collect(outcome, nid, tmp, attempt, started, failed)
                        if result is True:
                            ref2, again = self._submit(remote, [nid], attempt + 1, started)
                            running[ref2] = (again, False)
                            continue
                        if result is not None:
                            landed.append(result)
                        settled.append(nid)
                start_ready(deploy=False)  # Ray tasks that do not wait on this batch start before its DVC work
                self._land(landed)
                for nid in settled:
                    self._release(nid, waiting_on, failed)
        except KeyboardInterrupt:
            for ref in running:
                ray.cancel(ref, force=True)
            raise

    def _block(self, pending: set[str], waiting_on: dict[str, set[str]], failed: set[str]) -> None:
        """Nodes downstream of a failure do not run; each says which failure stopped it."""
        blocked = True
        while blocked:
            blocked = False
            for nid in sorted(n for n in pending if waiting_on[n] & failed):
                pending.discard(nid)
                failed.add(nid)
                blocked = True
                blocker = sorted(waiting_on[nid] & failed)[0]
                self._finish(NodeReport(nid, self.graph.nodes[nid].step, "blocked", error=f"not run: {blocker} did not succeed"))

    def _release(self, nid: str, waiting_on: dict[str, set[str]], failed: set[str]) -> None:
        if nid in failed:
            return
        for dependent in self._dependents.get(nid, ()):
            waiting_on[dependent].discard(nid)

    def _submit(self, remote: Any, nids: list[str], attempt: int = 1, started: float | None = None) -> tuple[Any, list[Attempt]]:
        """One Ray task for ``nids``: a node alone with its resources, or bookkeeping nodes (none) together.

        A node that no node of the cluster could ever run is not sent (Ray would queue it forever): its
        outcome is a failure naming the resource it lacks (runners/task_resources.py), ready at once."""
        import ray

        jobs, members, refused = [], [], None
        for nid in nids:
            node = self.graph.nodes[nid]
            resources = step_resources(self.project, node)
            refused = unschedulable(resources.request, self._nodes)
            tmp = self._temp_dir(nid)
            members.append(Attempt(nid, tmp, attempt, time.perf_counter() if started is None else started))
            self._emit("started", nid)
            if refused:
                continue
            self.store.restore(input_folders(self.project, self.store, node))
            ctx = node_context(self.project, self.store, node, tmp, self.prints, self.lock, resources.num_cpus,
                               resources.num_gpus, resources.workers)
            if node.step == "evaluate":  # metrics.json names the model it evaluated (runners/deploy_gates.py)
                ctx.extra["evaluated_model"] = model_binding(self.project, self.graph, self.prints, self.lock, self.store, nid)
            jobs.append((STEP_MODULES[node.step], ctx))
        if refused:  # such a node is alone in its task: only bookkeeping nodes, which ask for nothing, share one
            message, hint = refused
            return ray.put([("failed", f"{nids[0]} cannot be scheduled on this cluster: it {message}", hint, False)]), members
        return remote.options(**resources.options).remote(jobs), members

    def _max_retries(self, nid: str) -> int:
        spec = self.project.resources[self.graph.nodes[nid].resource].spec
        finetune = getattr(spec, "finetune", None)
        return finetune.max_retries if finetune is not None and self.graph.nodes[nid].step == "finetune" else 0

    def _collect(self, outcome: tuple, nid: str, tmp: Path, attempt: int, started: float,
                 failed: set[str]) -> Landed | bool | None:
        """Handle a finished step: its artifact to land, True when it should be retried, None when it failed."""
        step = self.graph.nodes[nid].step
        seconds = time.perf_counter() - started
        if outcome[0] == "ok":
            result: StepResult = outcome[1]
            return Landed(nid, self._place(nid, tmp), result,
                          NodeReport(nid, step, "applied", result.summary, seconds=seconds, attempts=attempt, metrics=result.metrics))
        if outcome[0] == "gate":
            _, message, verdict = outcome
            failed.add(nid)
            return Landed(nid, self._place(nid, tmp), StepResult(metrics={"passed": False, "n": verdict.get("n")}),
                          NodeReport(nid, step, "gate-failed", error=message, hint="dependents are blocked; see verdict.json",
                                     seconds=seconds, attempts=attempt))
        _, message, hint, retryable = outcome
        shutil.rmtree(tmp, ignore_errors=True)
        if retryable and attempt <= self._max_retries(nid):
            self._emit("retrying", nid, NodeReport(nid, step, "failed", error=message, attempts=attempt))
            return True
        failed.add(nid)
        self._finish(NodeReport(nid, step, "failed", error=message, hint=hint or "", seconds=seconds, attempts=attempt))
        return None

    def _deploy(self, nid: str, failed: set[str]) -> None:
        from runners.steps.deploy import deploy

        node = self.graph.nodes[nid]
        started = time.perf_counter()
        problem = self._gates_block(nid)
        if problem:
            failed.add(nid)
            self._finish(NodeReport(nid, "deploy", "gate-failed", error=problem,
                                    hint="the deployment serves only a model its required gates passed"))
            return
        self._emit("started", nid)
        tmp = self._temp_dir(nid)
        try:
            refused = unschedulable(replica_request(self.project.resources[node.resource].spec.serve), self._nodes)
            if refused:  # Serve would wait for replicas no node can host, until deploy's timeout
                raise NodeFailed(f"{nid} cannot be scheduled on this cluster: it {refused[0]}", refused[1], retryable=False)
            self.store.restore(input_folders(self.project, self.store, node))
            ctx = node_context(self.project, self.store, node, tmp, self.prints, self.lock, 0)
            previous = self.lock.nodes.get(nid)
            result = deploy(ctx, self.cluster, (previous.outputs.get("serve") if previous else None))
        except NodeFailed as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            failed.add(nid)
            self._finish(NodeReport(nid, "deploy", "failed", error=exc.message, hint=exc.hint or "",
                                    seconds=time.perf_counter() - started, attempts=1))
            return
        serve = {k: result.details[k] for k in ("app", "version", "url", "route_prefix", "config")}
        self._land([Landed(nid, self._place(nid, tmp), result,
                           NodeReport(nid, "deploy", "applied", result.summary, seconds=time.perf_counter() - started,
                                      attempts=1), {"serve": serve})])

    def _gates_block(self, nid: str) -> str | None:
        """Why a deployment may not proceed: a required gate whose verdict, re-derived from its evaluation, is not pass."""
        return gates_block(self.project, self.graph, self.prints, self.lock, self.store, nid)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
