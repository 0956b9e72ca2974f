"""The DAG of work: each resource compiles to nodes, ordered so inputs come first."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from compiler.diagnostics import Diagnostic
from compiler.project import Project
from compiler.resources import Resource
from llmops_spec import KINDS, Ref

KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
STEP_ORDER = {s: i for i, s in enumerate(("prepare", "prompt", "import", "finetune", "evaluate", "gate", "deploy"))}


@dataclass(frozen=True, slots=True)
class Node:
    """One unit of work: a step of a resource, with the nodes whose outputs it reads."""

    id: str
    step: str
    resource: Ref
    inputs: tuple[str, ...] = ()

    @property
    def sort_key(self) -> tuple[int, str, int]:
        return (KIND_ORDER[self.resource.kind], self.resource.name, STEP_ORDER[self.step])


def node_id(ref: Ref, step: str) -> str:
    return f"{ref.resource}:{step}"


@dataclass
class Graph:
    """Nodes in topological order (ties broken by lifecycle, then name) and their dependents."""

    nodes: dict[str, Node] = field(default_factory=dict)
    dependents: dict[str, list[str]] = field(default_factory=dict)

    def of_resource(self, ref: Ref) -> list[Node]:
        return [n for n in self.nodes.values() if n.resource == ref.resource]

    def final_node(self, ref: Ref) -> str | None:
        """The node whose completion means the resource is done (e.g. a gate's verdict)."""
        nodes = self.of_resource(ref)
        return nodes[-1].id if nodes else None


def _output_node(project: Project, ref: Ref) -> str | None:
    """The node that produces what a reference to ``ref`` reads."""
    target = project.get(ref)
    if target is None or target.spec is None:
        return None
    if target.kind == "Dataset":
        return node_id(target.ref, "prepare")
    if target.kind == "Prompt":
        return node_id(target.ref, "prompt")
    if target.kind == "Model":
        return node_id(target.ref, "finetune" if target.spec.finetune else "import")
    if target.kind == "EvalGate":
        return node_id(target.ref, "gate")
    if target.kind == "Deployment":
        return node_id(target.ref, "deploy")
    return None


def _resource_nodes(project: Project, resource: Resource) -> list[Node]:
    spec, ref = resource.spec, resource.ref

    def inputs(*refs: Ref | None) -> tuple[str, ...]:
        ids = (_output_node(project, r) for r in refs if r is not None)
        return tuple(sorted({i for i in ids if i is not None}))

    if resource.kind == "Dataset":
        return [Node(node_id(ref, "prepare"), "prepare", ref, inputs(spec.source.dataset))]
    if resource.kind == "Prompt":
        return [Node(node_id(ref, "prompt"), "prompt", ref)]
    if resource.kind == "Model":
        step = "finetune" if spec.finetune else "import"
        return [Node(node_id(ref, step), step, ref, inputs(*spec.upstream()))]
    if resource.kind == "EvalGate":
        evaluate = Node(node_id(ref, "evaluate"), "evaluate", ref, inputs(*spec.upstream()))
        return [evaluate, Node(node_id(ref, "gate"), "gate", ref, (evaluate.id,))]
    if resource.kind == "Deployment":
        return [Node(node_id(ref, "deploy"), "deploy", ref, inputs(*spec.upstream()))]
    return []  # Policy and Waiver are checks, not work


def build_graph(project: Project) -> tuple[Graph, list[Diagnostic]]:
    """Compile valid resources to nodes and order them; a cycle is reported with its path."""
    raw: dict[str, Node] = {}
    for resource in project.resources.values():
        if resource.spec is not None:
            for node in _resource_nodes(project, resource):
                raw[node.id] = node
    dependents: dict[str, list[str]] = {nid: [] for nid in raw}
    waiting = {nid: 0 for nid in raw}
    for node in raw.values():
        for dep in node.inputs:
            if dep in raw:
                dependents[dep].append(node.id)
                waiting[node.id] += 1
    ready = [(raw[nid].sort_key, nid) for nid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    graph = Graph(dependents=dependents)
    while ready:
        _, nid = heapq.heappop(ready)
        graph.nodes[nid] = raw[nid]
        for child in dependents[nid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (raw[child].sort_key, child))
    if len(graph.nodes) == len(raw):
        return graph, []
    stuck = {nid for nid in raw if nid not in graph.nodes}
    return graph, _cycle_diagnostics(project, raw, stuck)


def _at_closing_reference(project: Project, refs: list[Ref], names: list[str]) -> Diagnostic:
    """Locate a cycle at the reference by which its first resource reads the last one."""
    first = project.resources[refs[0]]
    feeding = next((r for r in reversed(refs) if r != refs[0]), refs[0])
    path = next((("spec", *p) for p, ref in first.spec.references() if ref.resource == feeding), ("metadata", "name"))
    return first.error(path, "E204", f"dependency cycle: {' -> '.join(names)}",
                       "a resource cannot depend on itself, directly or through others; break one reference")


def _cycle_diagnostics(project: Project, raw: dict[str, Node], stuck: set[str]) -> list[Diagnostic]:
    """Walk the stuck nodes to find each cycle once, and name it resource by resource."""
    found: list[Diagnostic] = []
    reported: set[frozenset[str]] = set()
    for start in sorted(stuck, key=lambda nid: raw[nid].sort_key):
        path: list[str] = []
        on_path: dict[str, int] = {}
        current = start
        while current not in on_path:
            on_path[current] = len(path)
            path.append(current)
            current = next(dep for dep in sorted(raw[current].inputs) if dep in stuck)
        cycle = path[on_path[current]:]
        first = min(range(len(cycle)), key=lambda i: raw[cycle[i]].sort_key)
        cycle = cycle[first + 1:] + cycle[: first + 1]  # reversed below, so it starts at the smallest
        key = frozenset(cycle)
        if key in reported:
            continue
        reported.add(key)
        refs = [raw[nid].resource for nid in reversed(cycle)]
        names: list[str] = []
        for ref in refs:
            if not names or names[-1] != str(ref):
                names.append(str(ref))
        names.append(names[0])
        found.append(_at_closing_reference(project, refs, names))
    return found
