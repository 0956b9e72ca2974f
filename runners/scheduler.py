"""apply's decisions, apart from the loop that acts on them: pure, and unit-tested without Ray.

``Schedule`` knows which nodes of a plan wait on which, and says which are ready (every input
landed), which are blocked by a failure upstream (and by which), which failure is retried
(``finetune.max_retries``), and when the run is done or stuck. ``plan_tasks`` says which ready
nodes share a Ray task.

A node that asks for resources (a fine-tune, data preparation, an evaluation) is a task of
its own, with those resources. Bookkeeping nodes (a Prompt frozen to JSON, a gate's
verdict) ask for none and take milliseconds; as one task each, Ray would start a worker
process per queued task (0-CPU tasks are not limited by CPUs), and each worker pays
seconds of start-up and imports for milliseconds of work. Ray's guide calls this
over-parallelizing with too fine-grained tasks. So bookkeeping nodes that are ready
together share tasks: at most ``per_task`` nodes each, and no more such tasks in flight
than the cluster has CPUs (``slots``), which keeps them on the workers Ray keeps warm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PER_TASK = 32  # bookkeeping nodes per shared task at most: they land (and a kill loses) a task at a time


class Schedule:
    """The state of one apply's nodes: pending (not started), running, settled (succeeded or failed).

    ``todo``: the nodes to run, in the plan's order; ``inputs``: each node's inputs (those outside
    ``todo`` have landed already); ``retries``: how many more attempts a node's failure may take.
    """

    def __init__(self, todo: Iterable[str], inputs: Mapping[str, Iterable[str]], retries: Mapping[str, int] | None = None):
        self.order = list(todo)
        self.pending = set(self.order)
        self.waiting_on = {nid: {dep for dep in inputs.get(nid, ()) if dep in self.pending} for nid in self.order}
        self.dependents: dict[str, list[str]] = {}
        for nid in self.order:
            for dep in sorted(self.waiting_on[nid]):
                self.dependents.setdefault(dep, []).append(nid)
        self.retries = dict(retries or {})
        self.running: set[str] = set()
        self.failed: set[str] = set()
        self.attempts: dict[str, int] = {}

    def ready(self) -> list[str]:
        """Nodes whose inputs have all landed, in plan order (not yet started)."""
        return [nid for nid in self.order if nid in self.pending and not self.waiting_on[nid]]

    def start(self, nid: str) -> int:
        """``nid`` is sent; returns its attempt number (1 for the first)."""
        self.pending.discard(nid)
        self.running.add(nid)
        self.attempts[nid] = self.attempts.get(nid, 0) + 1
        return self.attempts[nid]

    def succeeded(self, nid: str) -> None:
        """``nid`` landed: what waits on it may run."""
        self.running.discard(nid)
        for dependent in self.dependents.get(nid, ()):
            self.waiting_on[dependent].discard(nid)

    def failed_attempt(self, nid: str, retryable: bool) -> bool:
        """``nid``'s attempt failed: True when it is to be sent again, else it is failed for good."""
        if retryable and self.attempts.get(nid, 1) <= self.retries.get(nid, 0):
            return True
        self.settle_failed(nid)
        return False

    def settle_failed(self, nid: str) -> None:
        """``nid`` failed (or its gate did not pass): what waits on it is blocked."""
        self.running.discard(nid)
        self.pending.discard(nid)
        self.failed.add(nid)

    def blocked(self) -> list[tuple[str, str]]:
        """The pending nodes a failure upstream stops, each with the failed node that stops it (now failed too)."""
        out: list[tuple[str, str]] = []
        changed = True
        while changed:
            changed = False
            for nid in self.order:
                if nid in self.pending and self.waiting_on[nid] & self.failed:
                    out.append((nid, sorted(self.waiting_on[nid] & self.failed)[0]))
                    self.settle_failed(nid)
                    changed = True
        return out

    @property
    def done(self) -> bool:
        return not self.pending and not self.running

    @property
    def stuck(self) -> bool:
        """Nothing runs and nothing can start: a node waits on one that never ran (a bug in the plan)."""
        return bool(self.pending) and not self.running and not self.ready()


def plan_tasks(ready: list[str], bookkeeping: set[str], free_slots: int, per_task: int = PER_TASK) -> list[list[str]]:
    """The tasks to start now for ``ready`` (in its order): every other node alone; bookkeeping nodes in at
    most ``free_slots`` shared tasks of at most ``per_task`` nodes, spread evenly; the rest wait for a slot."""
    tasks = [[nid] for nid in ready if nid not in bookkeeping]
    shared = [nid for nid in ready if nid in bookkeeping]
    if shared and free_slots > 0:
        size = min(per_task, -(-len(shared) // free_slots))
        tasks += [shared[i:i + size] for i in range(0, len(shared), size)][:free_slots]
    return tasks
