"""What a rule sees: the CEL variables of one resource, built once and shared by every rule that matches it.

Converting Python values for the CEL engine is most of the cost of a policy check, so a
variable is built only when a matching rule names it, and the entries of related
resources are built once and reused by every resource they are related to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from compiler.policy.lineage import Lineage, sort_refs
from compiler.policy.matching import normalize, normalize_labels
from compiler.policy.secrets import SecretHit, field_name
from compiler.project import Project
from llmops_spec import Ref

VARIABLES = ("resource", "labels", "inputs", "upstream", "downstream", "data", "secrets")
"""Every variable a rule may read; docs/policy.md describes each."""
ENVELOPE = "resource:envelope"
"""Asked instead of ``resource`` by a rule that reads only its apiVersion, kind and metadata: no spec to convert."""
SPEC_FIELD = "resource.spec."
"""Asked with the envelope for each spec field a rule reads: ``resource.spec.requires``."""
ENTRY_SPECS = "entries:spec"
"""Asked by a rule that may read the spec of a related resource (``d.spec``) in inputs, upstream or downstream."""

GROUPS = {"Dataset": "datasets", "Prompt": "prompts", "Model": "models", "EvalGate": "gates", "Deployment": "deployments"}
"""The key of each kind in ``inputs``, ``upstream`` and ``downstream``."""


MATCHED_SPEC_FIELDS = {"Deployment": ("environment",)}
"""Spec fields rules match on, seen normalized (``compiler.policy.matching``) like every label."""


def dump(resource: Any) -> dict[str, Any]:
    """The document as validated: defaults filled in, unset optional fields absent (so ``has()`` means "set"),
    the values rules match on normalized."""
    return _matchable(resource.kind, resource.model.model_dump(mode="json", by_alias=True, exclude_none=True))


def _matchable(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its labels and matched spec fields normalized, as every rule compares them."""
    metadata = document.get("metadata")
    if isinstance(metadata, dict) and metadata.get("labels"):
        document["metadata"] = {**metadata, "labels": normalize_labels(metadata["labels"])}
    spec = document.get("spec")
    if isinstance(spec, dict):
        fields = [f for f in MATCHED_SPEC_FIELDS.get(kind, ()) if isinstance(spec.get(f), str)]
        if fields:
            document["spec"] = {**spec, **{f: normalize(spec[f]) for f in fields}}
    return document


class RuleContext:
    """The variables of every resource of one project, built on demand."""

    def __init__(self, project: Project, lineage: Lineage, secrets: Mapping[Ref, list[SecretHit]]) -> None:
        self.project = project
        self.lineage = lineage
        self.secrets = secrets
        self._dumps: dict[Ref, dict[str, Any]] = {}
        self._entries: dict[Ref, dict[str, Any]] = {}
        self._slices: dict[Ref, dict[str, Any]] = {}
        self._plans: dict[frozenset[str], tuple[bool, tuple[str, ...] | None, tuple[str, ...], bool]] = {}

    def resource(self, ref: Ref) -> dict[str, Any]:
        known = self._dumps.get(ref)
        if known is None:
            known = self._dumps[ref] = dump(self.project.resources[ref])
        return known

    def partial(self, ref: Ref, spec_fields: tuple[str, ...]) -> dict[str, Any]:
        """The document with only the spec fields rules read (converting the rest would be most of the cost)."""
        known = self._dumps.get(ref)
        if known is not None:
            return known
        resource = self.project.resources[ref]
        data = resource.doc.data  # validated: the metadata as written is the model's, less defaults and nulls
        metadata = {"labels": {}, **{key: value for key, value in data["metadata"].items() if value is not None}}
        envelope = {"apiVersion": data["apiVersion"], "kind": ref.kind, "metadata": metadata}
        if spec_fields:
            envelope["spec"] = resource.spec.model_dump(mode="json", by_alias=True, exclude_none=True,
                                                        include=set(spec_fields))
        return _matchable(ref.kind, envelope)

    def entry(self, ref: Ref, with_spec: bool = False) -> dict[str, Any]:
        """A related resource as a rule sees it in ``upstream``, ``downstream`` and ``inputs``."""
        known = self._entries.get(ref)
        if known is None:
            known = self._entries[ref] = self._entry(ref)
        if with_spec and "spec" not in known:
            known = self._entries[ref] = {**known, "spec": self.resource(ref)["spec"]}
        return known

    def _entry(self, ref: Ref) -> dict[str, Any]:
        resource = self.project.resources[ref]
        known = {"ref": str(ref), "kind": ref.kind, "name": ref.name, "labels": dict(self.lineage.labels[ref]),
                 "owner": resource.model.metadata.owner or ""}
        if ref.kind == "Dataset":
            known["license"] = resource.spec.license or ""
            known["redacted"] = self.lineage.redacted(ref)
        elif ref.kind == "Deployment":
            known["environment"] = normalize(resource.spec.environment)
        return known

    def data_slice(self, data: Ref) -> dict[str, Any]:
        """Data a model trains or a gate evaluates on, with where its rows come from."""
        known = self._slices.get(data)
        if known is None:
            known = self._slices[data] = {"ref": str(data), "dataset": str(data.resource), "output": data.output or "",
                                          "provenance": dict(self.lineage.provenance(data))}
        return known

    def grouped(self, refs: Iterable[Ref], with_spec: bool) -> dict[str, list[dict[str, Any]]]:
        groups: dict[str, list[dict[str, Any]]] = {name: [] for name in GROUPS.values()}
        for ref in sort_refs(refs):
            groups[GROUPS[ref.kind]].append(self.entry(ref, with_spec))
        return groups

    def variables(self, ref: Ref, names: frozenset[str]) -> dict[str, Any]:
        """The named variables of resource ``ref`` (names as ``rules.variables_read`` gives them)."""
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = _plan(names)
        whole, spec_fields, others, specs = plan
        out: dict[str, Any] = {}
        if whole:
            out["resource"] = self.resource(ref)
        elif spec_fields is not None:
            out["resource"] = self.partial(ref, spec_fields)
        lineage = self.lineage
        for name in others:
            if name == "labels":
                out[name] = dict(lineage.labels[ref])
            elif name == "inputs":
                out[name] = self.grouped(lineage.inputs[ref], specs)
            elif name == "upstream":
                out[name] = self.grouped(lineage.upstream(ref), specs)
            elif name == "downstream":
                out[name] = self.grouped(lineage.downstream(ref), specs)
            elif name == "data":
                out[name] = {"training": [self.data_slice(d) for d in lineage.training(ref)],
                             "evaluation": [self.data_slice(d) for d in lineage.evaluation(ref)]}
            elif name == "secrets":
                hits = self.secrets.get(ref)
                out[name] = [{"type": hit.kind, "field": field_name(hit.path)} for hit in hits] if hits else []
        return out


def _plan(names: frozenset[str]) -> tuple[bool, tuple[str, ...] | None, tuple[str, ...], bool]:
    """What to build for ``names``: the whole resource, or these spec fields of it (None: no resource), the rest."""
    fields = tuple(sorted(n[len(SPEC_FIELD):] for n in names if n.startswith(SPEC_FIELD)))
    whole = "resource" in names
    partial = fields if ENVELOPE in names and not whole else None
    others = tuple(n for n in VARIABLES if n != "resource" and n in names)
    return whole, partial, others, ENTRY_SPECS in names
