"""apply: execute a plan's changes, in dependency order, landing each node as it finishes.

A loop over the plan, not a second planner (Terraform's contract). It asks the schedule
(runners/scheduler.py, pure) what is ready, sends ready nodes to the executor (Ray, with the
resources their spec asks for; bookkeeping nodes share tasks), and hands finished nodes to
the recorder (runners/recorder.py), which lands them: DVC, the apply log's write-ahead record,
the lock. A deployment runs in this driver, which talks to Serve.

No node reads the driver's disk: each task is sent the md5 of everything its step reads
(runners/staging.py: upstream artifacts as the lock records them, source data staged on the
DVC remote and checked against the plan's fingerprint), fetches it into scratch of its own,
and pushes what it writes (runners/worker.py); a node lands only from what the remote holds.
Nodes that finish together land together (one lock write), so an apply killed at any moment
resumes without redoing finished nodes. A failure is the node's own message; a failed gate
blocks what depends on it. A deployment proceeds only on a verdict re-derived here from its
gates' evaluations, read by md5 (runners/deploy_gates.py), never on the lock's ``passed``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.compile import Compilation
from compiler.fingerprint import Fingerprint
from compiler.lockfile import Lock
from compiler.plan import Plan
from compiler.steps import BOOKKEEPING_STEPS, STEPS
from runners.cluster import Cluster
from runners.deploy_gates import gates_block, model_binding
from runners.dvc_store import Store
from runners.node_context import node_context, step_resources
from runners.recorder import Finished, Recorder
from runners.scheduler import Schedule, plan_tasks
from runners.staging import staged_sources, upstream_objects
from runners.step import NodeFailed, Outcome
from runners.task_resources import replica_request, unschedulable
from runners.worker import Job

EXIT_OK, EXIT_ERROR, EXIT_GATE_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130


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
    transfer: dict[str, float] = field(default_factory=dict)  # fetch_s, push_s, land_s, fetched_bytes, pushed_bytes


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


class Applier:
    """One apply of one plan. ``events`` receives (kind, node, NodeReport | None) for progress display."""

    def __init__(self, compilation: Compilation, plan: Plan, prints: dict[str, Fingerprint], store: Store,
                 cluster: Cluster | None, done: frozenset[str] = frozenset(),
                 events: Callable[[str, str, NodeReport | None], None] | None = None, executor: Any = None,
                 pull: bool = True) -> None:
        self.project = compilation.project
        self.graph = compilation.graph
        self.plan = plan
        self.prints = prints
        self.store = store
        self.cluster = cluster
        self.done = done
        self.events = events or (lambda kind, node, report: None)
        self.recorder = Recorder(self.graph, prints, plan, store, pull)
        self.executor = executor
        self.report = ApplyReport()
        self._started: dict[str, float] = {}  # when each node was first sent
        self._members: dict[Any, list[str]] = {}  # per task in flight, its nodes in job order
        self._nodes: list[dict[str, float]] = []  # the cluster's nodes' totals (set by _execute)

    @property
    def lock(self) -> Lock:
        return self.recorder.lock

    def _finish(self, report: NodeReport) -> None:
        self.report.nodes.append(report)
        self.events("finished", report.node, report)

    def _failed(self, nid: str, exc: NodeFailed | Outcome, transfer: dict[str, float] | None = None) -> None:
        message, hint = (exc.message, exc.hint or "")
        self._finish(NodeReport(nid, self.graph.nodes[nid].step, "failed", error=message, hint=hint,
                                seconds=self._seconds(nid), attempts=self.schedule.attempts.get(nid, 1),
                                transfer=transfer or {}))

    def _seconds(self, nid: str) -> float:
        return time.perf_counter() - self._started.get(nid, time.perf_counter())

    # ----------------------------------------------------------------- the loop
    def run(self) -> ApplyReport:
        for nid in sorted(self.done):
            change = next(c for c in self.plan.changes if c.node == nid)
            self._finish(NodeReport(nid, change.step, "already-applied", "applied by an earlier, interrupted run"))
        todo = [c.node for c in self.plan.changes if c.action in ("create", "update") and c.node not in self.done]
        deletes = [c.node for c in self.plan.changes if c.action == "delete" and c.node not in self.done]
        self.schedule = Schedule(todo, {nid: self.graph.nodes[nid].inputs for nid in todo},
                                 {nid: self._max_retries(nid) for nid in todo})
        try:
            self._delete(deletes)
            if todo:
                self._execute()
        except KeyboardInterrupt:
            if self.executor is not None:
                self.executor.cancel()
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
            self.recorder.forget(nid)
            self._finish(NodeReport(nid, entry.step, "deleted", summary, seconds=time.perf_counter() - started))

    def _execute(self) -> None:
        if self.executor is None:
            from runners.executor import RayExecutor

            self.executor = RayExecutor()
        nodes, slots = self.executor.capacity()
        self._nodes = nodes  # what a node's request is checked against before it is sent
        shared: set[Any] = set()  # the shared bookkeeping tasks in flight
        schedule = self.schedule
        while not schedule.done:
            self._report_blocked()
            ready = schedule.ready()
            in_driver = [n for n in ready if STEPS[self.graph.nodes[n].step].in_driver]
            tasks = [n for n in ready if n not in in_driver]
            bookkeeping = {n for n in tasks if self.graph.nodes[n].step in BOOKKEEPING_STEPS}
            for group in plan_tasks(tasks, bookkeeping, slots - len(shared)):
                ref = self._send(group)
                if ref is not None and group[0] in bookkeeping:
                    shared.add(ref)
            for nid in in_driver:
                self._deploy(nid)
            self._report_blocked()
            if schedule.done:
                break
            if schedule.stuck:
                raise RuntimeError(f"apply is stuck: {sorted(schedule.pending)} wait on nodes that never ran")
            finished: list[tuple[str, Outcome]] = []
            for ref, outcomes in self.executor.wait(1.0):
                shared.discard(ref)
                finished += list(zip(self._members.pop(ref), outcomes, strict=True))
            self._collect(finished)

    def _send(self, group: list[str]) -> Any:
        """One task for ``group`` (a node alone with its resources, or bookkeeping nodes together); None if none went.

        A node that no node of the cluster could ever run (Ray would queue it forever), or whose
        inputs cannot be staged, fails at once with its own message; the rest of the group is sent."""
        jobs, members, options = [], [], {}
        for nid in group:
            node = self.graph.nodes[nid]
            self.schedule.start(nid)
            self._started.setdefault(nid, time.perf_counter())
            self.events("started", nid, None)
            resources = step_resources(self.project, node)
            refused = unschedulable(resources.request, self._nodes)
            try:
                if refused:
                    raise NodeFailed(f"{nid} cannot be scheduled on this cluster: it {refused[0]}", refused[1],
                                     retryable=False)
                jobs.append(self._job(nid, resources))
            except NodeFailed as exc:
                self.schedule.settle_failed(nid)
                self._failed(nid, exc)
                continue
            members.append(nid)
            options = resources.options
        if not jobs:
            return None
        ref = self.executor.submit(jobs, options)
        self._members[ref] = members
        return ref

    def _job(self, nid: str, resources: Any) -> Job:
        """What ``nid``'s task is sent: its step, its context, and the md5 of everything it reads."""
        node = self.graph.nodes[nid]
        ctx = node_context(self.project, self.store, node, self.store.root / "out", self.prints, self.lock,
                           resources.num_cpus, resources.num_gpus, resources.workers)
        if node.step == "evaluate":  # metrics.json names the model it evaluated (runners/deploy_gates.py)
            ctx.extra["evaluated_model"] = model_binding(self.project, self.graph, self.prints, self.lock, self.store, nid)
        upstream = upstream_objects(ctx, self._recorded(), self.store)
        sources = staged_sources(self.project, node, self.store, self.prints[nid])
        return Job(STEPS[node.step].module, ctx, self._address(), {**sources.objects, **upstream.objects},
                   {**sources.names, **upstream.names})

    def _recorded(self) -> dict[str, str]:
        """Every artifact folder the lock pins -> its md5 (rebuilt only when the lock was written since)."""
        lock = self.lock
        if getattr(self, "_recorded_for", None) is not lock:
            self._recorded_for = lock
            self._recorded_md5s = {rel: md5 for entry in lock.nodes.values() for rel, md5 in entry.outputs.items()
                                   if isinstance(md5, str)}
        return self._recorded_md5s

    def _address(self) -> Any:
        if not hasattr(self, "_remote_address"):
            self._remote_address = self.store.address()
        return self._remote_address

    def _collect(self, finished: list[tuple[str, Outcome]]) -> None:
        """Land the nodes that finished with outputs (one batch), retry or fail the rest, then free their dependents."""
        batch, reports = [], {}
        for nid, outcome in finished:
            step = self.graph.nodes[nid].step
            if outcome.status == "failed":
                if self.schedule.failed_attempt(nid, outcome.retryable):
                    self.events("retrying", nid, NodeReport(nid, step, "failed", error=outcome.message,
                                                           attempts=self.schedule.attempts[nid]))
                    self._send([nid])
                else:
                    self._failed(nid, outcome, outcome.transfer)
                continue
            batch.append(Finished(nid, outcome.status, outcome.result, outcome.manifest))
            reports[nid] = self._report(nid, outcome)
        self._land(batch, reports)

    def _report(self, nid: str, outcome: Outcome) -> NodeReport:
        step, attempts = self.graph.nodes[nid].step, self.schedule.attempts.get(nid, 1)
        if outcome.status == "gate-failed":
            return NodeReport(nid, step, "gate-failed", error=outcome.message, hint="dependents are blocked; see verdict.json",
                              seconds=self._seconds(nid), attempts=attempts, transfer=dict(outcome.transfer))
        return NodeReport(nid, step, "applied", outcome.result.summary, seconds=self._seconds(nid), attempts=attempts,
                          metrics=outcome.result.metrics, transfer=dict(outcome.transfer))

    def _land(self, batch: list[Finished], reports: dict[str, NodeReport]) -> None:
        for nid, landed in self.recorder.land(batch).items():
            report = reports[nid]
            if isinstance(landed, NodeFailed):
                self.schedule.settle_failed(nid)
                self._failed(nid, landed, report.transfer)
                continue
            report.transfer["land_s"] = landed
            if report.status == "gate-failed":
                self.schedule.settle_failed(nid)
            else:
                self.schedule.succeeded(nid)
            self._finish(report)

    def _report_blocked(self) -> None:
        """Nodes downstream of a failure do not run; each says which failure stopped it."""
        for nid, blocker in self.schedule.blocked():
            self._finish(NodeReport(nid, self.graph.nodes[nid].step, "blocked", error=f"not run: {blocker} did not succeed"))

    def _max_retries(self, nid: str) -> int:
        spec = self.project.resources[self.graph.nodes[nid].resource].spec
        finetune = getattr(spec, "finetune", None)
        return finetune.max_retries if finetune is not None and self.graph.nodes[nid].step == "finetune" else 0

    # ----------------------------------------------------------------- deployments (in this driver)
    def _deploy(self, nid: str) -> None:
        from runners.objects import push_folder
        from runners.steps.deploy import deploy

        node = self.graph.nodes[nid]
        self.schedule.start(nid)
        self._started[nid] = time.perf_counter()
        problem = gates_block(self.project, self.graph, self.prints, self.lock, self.store, nid)
        if problem:
            self.schedule.settle_failed(nid)
            self._finish(NodeReport(nid, "deploy", "gate-failed", error=problem,
                                    hint="the deployment serves only a model its required gates passed", attempts=1))
            return
        self.events("started", nid, None)
        tmp = self._temp_dir(nid)
        try:
            refused = unschedulable(replica_request(self.project.resources[node.resource].spec.serve), self._nodes)
            if refused:  # Serve would wait for replicas no node can host, until deploy's timeout
                raise NodeFailed(f"{nid} cannot be scheduled on this cluster: it {refused[0]}", refused[1], retryable=False)
            ctx = node_context(self.project, self.store, node, tmp, self.prints, self.lock, 0)
            previous = self.lock.nodes.get(nid)
            result = deploy(ctx, self.cluster, (previous.outputs.get("serve") if previous else None))
            manifest = push_folder(self.store.remote(), tmp, nid)
        except NodeFailed as exc:
            self.schedule.settle_failed(nid)
            self._failed(nid, exc)
            return
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        serve = {k: result.details[k] for k in ("app", "version", "url", "route_prefix", "config")}
        report = NodeReport(nid, "deploy", "applied", result.summary, seconds=self._seconds(nid), attempts=1)
        self._land([Finished(nid, "applied", result, manifest, {"serve": serve})], {nid: report})

    def _temp_dir(self, nid: str) -> Path:
        """An empty folder for a deployment's record under ``.llmops/tmp/`` (git-ignored), cleared of an earlier run's."""
        node = self.graph.nodes[nid]
        kind, name = str(node.resource).split("/", 1)
        key = f"{kind.lower()}.{name}.{node.step}"  # names are [a-z0-9-]: the dots cannot be confused
        scratch = self.store.scratch()
        for leftover in scratch.glob(f"{key}.tmp-*"):
            if leftover.is_symlink():
                leftover.unlink()
            else:
                shutil.rmtree(leftover, ignore_errors=True)
        tmp = scratch / f"{key}.tmp-{self.prints[nid].value[:8]}"
        tmp.mkdir()
        return tmp

