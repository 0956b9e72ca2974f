"""Which ready nodes go to Ray in which task: a pure decision, apart from the loop that acts on it.

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

PER_TASK = 32  # bookkeeping nodes per shared task at most: they land (and a kill loses) a task at a time


def plan_tasks(ready: list[str], bookkeeping: set[str], free_slots: int, per_task: int = PER_TASK) -> list[list[str]]:
    """The tasks to start now for ``ready`` (in its order): every other node alone; bookkeeping nodes in at
    most ``free_slots`` shared tasks of at most ``per_task`` nodes, spread evenly; the rest wait for a slot."""
    tasks = [[nid] for nid in ready if nid not in bookkeeping]
    shared = [nid for nid in ready if nid in bookkeeping]
    if shared and free_slots > 0:
        size = min(per_task, -(-len(shared) // free_slots))
        tasks += [shared[i:i + size] for i in range(0, len(shared), size)][:free_slots]
    return tasks
