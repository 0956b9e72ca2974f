"""What a node's Ray task asks for, and whether the cluster as it stands can ever give it: pure decisions.

Ray queues a task it cannot place and waits, silently, for a node that fits; on a fixed cluster
that wait never ends. So apply compares each node's request with the nodes' totals before it
submits the node (``unschedulable``), and a node that no node could ever run fails at once,
naming what it lacks, while the rest of the plan runs. A task runs on one node, so one node must
hold all of its request; the workers of a data-parallel fine-tune may spread over several nodes
(Ray Train's placement group packs them where it can), so together the nodes must hold one bundle
per worker. Only totals are compared, never what is free now: a busy cluster frees up, a missing
resource does not. An autoscaling cluster that would add a node of the missing kind is not
foreseen: the node fails with the same message (start a node of that kind first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compiler.steps import BOOKKEEPING_STEPS

GIB = 1024**3
ACCELERATOR_PREFIX = "accelerator_type:"   # how Ray names a node's accelerator among its resources
ACCELERATOR_AMOUNT = 0.001                  # what ray.remote(accelerator_type=...) asks of it
BOOKKEEPING = {"num_cpus": 0, "num_gpus": 0}


@dataclass(frozen=True)
class Request:
    """``bundles`` copies of ``each`` (Ray resource names: CPU, GPU, memory in bytes, custom names,
    ``accelerator_type:X``): one for a task, one per worker for a data-parallel fine-tune."""

    each: dict[str, float] = field(default_factory=dict)
    bundles: int = 1
    unit: str = "worker"       # what a bundle is, in messages: a training worker, a Serve replica


def ray_options(resources: Any | None) -> dict[str, Any]:
    """``ray.remote`` options from a spec's ``resources`` block (llmops_spec/resources.py); bookkeeping: none."""
    if resources is None:
        return dict(BOOKKEEPING)
    options: dict[str, Any] = {"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus}
    if resources.memory_gb:
        options["memory"] = int(resources.memory_gb * GIB)
    if resources.custom:
        options["resources"] = dict(resources.custom)
    if resources.accelerator_type:
        options["accelerator_type"] = resources.accelerator_type
    return options


@dataclass(frozen=True)
class TaskResources:
    """A node's task: its ``ray.remote`` options, what must fit the cluster, and what the step is given.

    A data-parallel fine-tune (``workers`` > 1) is a coordinator task that asks for nothing (it loads
    the base and waits) and Ray Train workers that each ask for the Model's ``resources``.
    """

    options: dict[str, Any]
    request: Request
    num_cpus: float          # per worker when workers > 1
    num_gpus: float
    workers: int = 1


def task_resources(spec: Any, step: str) -> TaskResources:
    """Pure: the resources of a node of ``step`` whose resource's spec is ``spec``."""
    resources = getattr(spec, "resources", None) if step not in BOOKKEEPING_STEPS else None
    options = ray_options(resources)
    workers = getattr(resources, "workers", 1) if step == "finetune" else 1
    if workers > 1:
        return TaskResources(dict(BOOKKEEPING), request_of(options, workers), options["num_cpus"], options["num_gpus"],
                             workers)
    return TaskResources(options, request_of(options), options["num_cpus"], options["num_gpus"])


def replica_request(serve: Any) -> Request:
    """Pure: what a Deployment's replicas ask for (``serve.ray_actor_options``), one bundle per replica that
    must run at once (``num_replicas``, or autoscaling's ``min_replicas``, at least one)."""
    options = serve.ray_actor_options
    replicas = serve.autoscaling.min_replicas if serve.autoscaling is not None else serve.num_replicas
    return request_of({"num_cpus": options.num_cpus, "num_gpus": options.num_gpus, "memory": options.memory or 0,
                       "resources": options.resources or {}, "accelerator_type": options.accelerator_type},
                      max(1, replicas), "replica")


def request_of(options: dict[str, Any], bundles: int = 1, unit: str = "worker") -> Request:
    """The Ray resource amounts ``options`` (as for ``ray.remote``) ask for, zeros left out."""
    each = {"CPU": float(options.get("num_cpus", 1)), "GPU": float(options.get("num_gpus", 0)),
            "memory": float(options.get("memory", 0) or 0), **{k: float(v) for k, v in (options.get("resources") or {}).items()}}
    if options.get("accelerator_type"):
        each[ACCELERATOR_PREFIX + options["accelerator_type"]] = ACCELERATOR_AMOUNT
    return Request({k: v for k, v in each.items() if v > 0}, bundles, unit)


def _amount(name: str, value: float) -> str:
    if name == "memory":
        return f"{value / GIB:g} GiB memory"
    if name.startswith(ACCELERATOR_PREFIX):
        return f"an {name[len(ACCELERATOR_PREFIX):]} accelerator ({name})"
    if name in ("CPU", "GPU"):
        return f"{value:g} {name}"
    return f"{value:g} of custom resource {name}"


def _fits(node: dict[str, float], each: dict[str, float]) -> int:
    """How many bundles of ``each`` fit in ``node``'s totals at once."""
    counts = [int(node.get(name, 0.0) / amount + 1e-9) for name, amount in each.items()]
    return min(counts) if counts else 1_000_000


def unschedulable(request: Request, nodes: list[dict[str, float]]) -> tuple[str, str] | None:
    """Pure: why no placement of ``request`` on ``nodes`` (each node's total resources) can ever exist, as
    (message, hint) naming the resource that is missing; None when one can."""
    if not request.each:
        return None
    if not nodes:
        return "the cluster has no live node", "start a Ray node (ray start --address ...)"
    per_node = [_fits(node, request.each) for node in nodes]
    if sum(per_node) >= request.bundles:
        return None
    for name, amount in request.each.items():  # a resource no node has enough of, alone
        largest = max(node.get(name, 0.0) for node in nodes)
        if largest < amount:
            have = "no node has any" if largest == 0 else f"the largest node has {_amount(name, largest)}"
            return (f"asks for {_amount(name, amount)}{_per(request)}; {have}",
                    _hint(name))
    if max(per_node) == 0:  # each resource exists somewhere, never all on one node
        wanted = ", ".join(_amount(k, v) for k, v in request.each.items())
        return (f"asks for {wanted} on one node{_per(request)}; no node has them all",
                "lower the request to what one node holds, or start a node that has it all")
    return (f"asks for {request.bundles} {request.unit}s of {', '.join(_amount(k, v) for k, v in request.each.items())}; "
            f"the cluster holds {sum(per_node)} at once", f"lower the number of {request.unit}s, or add nodes")


def _per(request: Request) -> str:
    return f" per {request.unit}" if request.bundles > 1 else ""


def _hint(name: str) -> str:
    if name == "GPU":
        return "start GPU nodes (ray start --num-gpus N), or set resources.num_gpus: 0"
    if name.startswith(ACCELERATOR_PREFIX):
        return "start a node with that accelerator, or change resources.accelerator_type"
    if name in ("CPU", "memory"):
        return "lower resources.num_cpus / memory_gb to what one node has, or add a larger node"
    return f"start a node with it (ray start --resources '{{\"{name}\": 1}}'), or remove it from resources.custom"


def cluster_nodes(ray: Any) -> list[dict[str, float]]:
    """The total resources of each live node of the connected cluster (what ``unschedulable`` compares with)."""
    return [dict(node.get("Resources") or {}) for node in ray.nodes() if node.get("Alive")]
