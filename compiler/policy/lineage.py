"""The lineage around each resource: what it reads, what reads it, and the labels it inherits.

Policies judge a resource by where its data came from: a model trained on a pii dataset
is pii, and a deployment serves every dataset upstream of its model. Inputs and labels
are computed for the whole project at once, each resource after its inputs; the rest
(transitive upstream and downstream, training data, provenance) when a rule asks, and
remembered, so the work follows what the rules read.
"""

from __future__ import annotations

import posixpath
from collections.abc import Container, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from compiler.graph import KIND_ORDER
from compiler.policy.matching import normalize_labels
from compiler.project import Project
from llmops_spec import Ref

RESOURCE_KINDS = ("Dataset", "Prompt", "Model", "EvalGate", "Deployment")
STICKY = "true"
"""An inherited label with this value cannot be switched off downstream: once pii, always pii."""
WHOLE = "*"
"""In a provenance, the whole of a dataset was taken, not one split of it."""


def sort_refs(refs: set[Ref]) -> tuple[Ref, ...]:
    """Lifecycle order, then name: the order every list in a rule's context comes in."""
    return tuple(sorted(refs, key=lambda r: (KIND_ORDER.get(r.kind, 99), r.name, r.output or "")))


def _inputs(valid: Container[Ref], own: Ref, spec: Any) -> tuple[Ref, ...]:
    """The valid resources ``own`` reads, once each, in reference order."""
    seen: dict[Ref, None] = {}
    for ref in spec.upstream():
        whole = ref if ref.output is None else Ref(ref.kind, ref.name)
        if whole in valid and whole != own:
            seen[whole] = None
    return tuple(seen)


def _postorder(inputs: dict[Ref, tuple[Ref, ...]], roots: Iterable[Ref] | None = None,
               done: Container[Ref] = ()) -> list[Ref]:
    """Resources after their inputs, from ``roots`` (default: all), not entering ``done``.

    Iterative, so a long derivation chain cannot overflow the stack; an edge that closes a
    cycle (reported by validate as E204) is skipped.
    """
    order: list[Ref] = []
    state: dict[Ref, int] = {}  # 1: on the stack, 2: done
    for start in inputs if roots is None else roots:
        if start in state or start in done or start not in inputs:
            continue
        stack = [(start, iter(inputs[start]))]
        state[start] = 1
        while stack:
            ref, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                state[ref] = 2
                order.append(ref)
            elif child not in state and child in inputs and child not in done:
                state[child] = 1
                stack.append((child, iter(inputs[child])))
    return order


def _inherit(own: dict[str, str], parents: list[Mapping[str, str]]) -> Mapping[str, str]:
    """Own labels, plus those of the inputs it does not set; an inherited ``"true"`` wins even over its own."""
    if not parents:
        return MappingProxyType(own)
    inherited: dict[str, str] = {}
    for labels in parents:
        for key, value in labels.items():
            if key not in inherited or value == STICKY:
                inherited[key] = value
    merged = {**inherited, **own}
    merged.update((key, STICKY) for key, value in inherited.items() if value == STICKY)
    return MappingProxyType(merged)


class Lineage:
    """The lineage of every valid resource: inputs and effective labels at once, the rest when a rule asks.

    Labels are normalized (``compiler.policy.matching``): what rules see and ``match`` compares.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        valid = {ref: r for ref, r in project.resources.items() if r.spec is not None and r.kind in RESOURCE_KINDS}
        self.inputs: dict[Ref, tuple[Ref, ...]] = {ref: _inputs(valid, ref, r.spec) for ref, r in valid.items()}
        self.labels: dict[Ref, Mapping[str, str]] = {}
        for ref in _postorder(self.inputs):
            parents = [self.labels[p] for p in self.inputs[ref] if p in self.labels]
            self.labels[ref] = _inherit(normalize_labels(valid[ref].labels), parents)
        self._upstream: dict[Ref, frozenset[Ref]] = {}
        self._downstream: dict[Ref, set[Ref]] | None = None
        self._training: dict[Ref, tuple[Ref, ...]] = {}
        self._redacted: dict[Ref, bool] = {}
        self._provenance: dict[Ref, Mapping[str, str]] = {}
        self._sources: dict[Ref, Mapping[str, str]] = {}

    def upstream(self, ref: Ref) -> frozenset[Ref]:
        """Everything ``ref`` reads, directly or through others."""
        known = self._upstream.get(ref)
        if known is None:
            for below in _postorder(self.inputs, (ref,), self._upstream):
                above: set[Ref] = set()
                for parent in self.inputs[below]:
                    above.add(parent)
                    above |= self._upstream.get(parent, frozenset())
                self._upstream[below] = frozenset(above)
            known = self._upstream.get(ref, frozenset())
        return known

    def downstream(self, ref: Ref) -> frozenset[Ref] | set[Ref]:
        """Everything that reads ``ref``, directly or through others (computed for all on first use)."""
        if self._downstream is None:
            self._downstream = {r: set() for r in self.inputs}
            for below in _postorder(self.inputs):
                for parent in self.upstream(below):
                    self._downstream[parent].add(below)
        return self._downstream.get(ref, frozenset())

    def training(self, ref: Ref) -> tuple[Ref, ...]:
        """The data (``Dataset/x@split``) a model, or the model a gate or deployment uses, was trained on."""
        resource = self.project.get(ref)
        if resource is None or resource.spec is None:
            return ()
        if resource.kind in ("EvalGate", "Deployment"):
            return _training(self.project, resource.spec.model, self._training)
        return _training(self.project, ref, self._training) if resource.kind == "Model" else ()

    def evaluation(self, ref: Ref) -> tuple[Ref, ...]:
        """The data a gate evaluates on; for a deployment, that of the gates it requires."""
        resource = self.project.get(ref)
        spec = resource.spec if resource is not None else None
        if spec is None:
            return ()
        if resource.kind == "EvalGate":
            return (spec.dataset,)
        if resource.kind == "Deployment":
            gates = (self.project.get(g) for g in spec.requires)
            return tuple({g.spec.dataset: None for g in gates if g is not None and g.spec is not None and g.kind == "EvalGate"})
        return ()

    def redacted(self, ref: Ref) -> bool:
        """Whether a pii_redact runs in the dataset or in one it derives from."""
        return _redacted(self.project, ref, self._redacted)

    def provenance(self, data: Ref) -> Mapping[str, str]:
        """Where the rows of ``data`` come from: each source file and dataset of its derivation, with the split taken.

        ``Dataset/b@eval``, where ``b`` derives from ``Dataset/a@train`` and ``a`` reads ``data/t.jsonl``, is
        ``{"data/t.jsonl": "*", "Dataset/a": "train", "Dataset/b": "eval"}``. Two pieces of data share no row when
        their provenances share no key (different files), or take different splits of one dataset.
        """
        known = self._provenance.get(data)
        if known is None:
            whole = Ref(data.kind, data.name)
            known = self._provenance[data] = MappingProxyType({**self._source(whole), str(whole): data.output or WHOLE})
        return known

    def _source(self, dataset: Ref) -> Mapping[str, str]:
        """The provenance of what ``dataset`` reads: its file, or the data it derives from (a cycle ends the chain)."""
        known = self._sources.get(dataset)
        if known is None:
            self._sources[dataset] = {}  # an edge closing a derivation cycle (E204) adds nothing
            resource = self.project.resources.get(dataset)
            spec = resource.spec if resource is not None and resource.kind == "Dataset" else None
            if spec is None:
                known = {}
            elif spec.source.dataset is None:
                known = {posixpath.normpath(spec.source.path): WHOLE}
            else:
                known = dict(self.provenance(spec.source.dataset))
            self._sources[dataset] = known
        return known


def _training(project: Project, ref: Ref, memo: dict[Ref, tuple[Ref, ...]]) -> tuple[Ref, ...]:
    """The data a model was trained on, through the chain of models it continues from."""
    if ref in memo:
        return memo[ref]
    memo[ref] = ()  # a cycle of base models (E204) ends here
    resource = project.get(ref)
    spec = resource.spec if resource is not None and resource.kind == "Model" else None
    if spec is None:
        return ()
    found: dict[Ref, None] = {}
    if spec.base.model is not None:
        found.update(dict.fromkeys(_training(project, spec.base.model, memo)))
    if spec.finetune is not None:
        found[spec.finetune.dataset] = None
    memo[ref] = tuple(found)
    return memo[ref]


def _redacted(project: Project, ref: Ref, memo: dict[Ref, bool]) -> bool:
    if ref in memo:
        return memo[ref]
    memo[ref] = False  # a derivation cycle (E204) ends here
    resource = project.get(ref)
    spec = resource.spec if resource is not None and resource.kind == "Dataset" else None
    if spec is None:
        return False
    memo[ref] = (any(step.pii_redact is not None for step in spec.transforms)
                 or (spec.source.dataset is not None and _redacted(project, spec.source.dataset.resource, memo)))
    return memo[ref]


def build_lineage(project: Project) -> Lineage:
    """The lineage of every resource whose spec is valid; invalid ones are left to validate's diagnostics."""
    return Lineage(project)
