"""Where node tasks run: Ray for apply, in-process for unit tests of the loop. Both speak ``Outcome``s.

An executor takes a task (one or more ``Job``s with the Ray options of the first) and later
says which tasks are done, with one ``Outcome`` per job. It decides nothing: what to send,
when, and what an outcome means are the apply loop's (runners/apply.py) and the schedule's
(runners/scheduler.py).
"""

from __future__ import annotations

from typing import Any

from runners.step import Outcome
from runners.worker import Job, run_jobs

TASK_RETRIES = 3  # a worker or node that dies mid-task: Ray runs the task again elsewhere


def _lost(exc: BaseException) -> Outcome:
    """The outcome of a task whose retries ran out (its worker or node died each time)."""
    return Outcome("failed", message=f"the Ray task was lost: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                   hint="a worker or node died; rerun apply to resume")


class RayExecutor:
    """Tasks on the connected Ray cluster."""

    def __init__(self) -> None:
        import ray

        self._ray = ray
        self._remote = ray.remote(max_retries=TASK_RETRIES)(run_jobs)
        self._tasks: dict[Any, int] = {}  # ref -> its job count

    def capacity(self) -> tuple[list[dict[str, float]], int]:
        """The live nodes' total resources, and how many CPUs the cluster has (shared bookkeeping tasks in flight)."""
        from runners.task_resources import cluster_nodes

        return cluster_nodes(self._ray), max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def submit(self, jobs: list[Job], options: dict[str, Any]) -> Any:
        ref = self._remote.options(**options).remote(jobs)
        self._tasks[ref] = len(jobs)
        return ref

    def settled(self, outcomes: list[Outcome]) -> Any:
        """A task that is done before it starts (a node refused at once): its outcomes, as a task's."""
        ref = self._ray.put(outcomes)
        self._tasks[ref] = len(outcomes)
        return ref

    def wait(self, timeout: float) -> list[tuple[Any, list[Outcome]]]:
        """The tasks done within ``timeout`` seconds (every one done by then, once the first is)."""
        refs = list(self._tasks)
        if not refs or not self._ray.wait(refs, num_returns=1, timeout=timeout)[0]:
            return []
        done, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        finished = []
        for ref in done:
            count = self._tasks.pop(ref)
            try:
                finished.append((ref, self._ray.get(ref)))
            except Exception as exc:  # a system failure, not the steps'
                finished.append((ref, [_lost(exc)] * count))
        return finished

    @property
    def busy(self) -> int:
        return len(self._tasks)

    def cancel(self) -> None:
        for ref in self._tasks:
            self._ray.cancel(ref, force=True)
        self._tasks.clear()


class LocalExecutor:
    """Tasks run at once, in this process, one after another: the apply loop without Ray (unit tests)."""

    def __init__(self, nodes: list[dict[str, float]] | None = None, cpus: int = 2) -> None:
        self._nodes = nodes if nodes is not None else [{"CPU": float(cpus)}]
        self._cpus = cpus
        self._done: list[tuple[int, list[Outcome]]] = []
        self._next = 0
        self.sent: list[tuple[list[str], dict[str, Any]]] = []  # (node ids, options) of every task, in order

    def capacity(self) -> tuple[list[dict[str, float]], int]:
        return self._nodes, self._cpus

    def submit(self, jobs: list[Job], options: dict[str, Any]) -> int:
        self.sent.append(([job.ctx.node for job in jobs], dict(options)))
        return self.settled(run_jobs(jobs))

    def settled(self, outcomes: list[Outcome]) -> int:
        self._next += 1
        self._done.append((self._next, outcomes))
        return self._next

    def wait(self, timeout: float) -> list[tuple[int, list[Outcome]]]:
        done, self._done = self._done, []
        return done

    @property
    def busy(self) -> int:
        return len(self._done)

    def cancel(self) -> None:
        self._done.clear()
