"""The built-in pack: the rules every project gets, each a CEL rule with a stable name and code.

Each is replaced by a user Policy of the same name (see rules.py), and waived like any
other; a replacement is itself a finding of ``builtin-replaced`` (replaced.py). The rules
read only the documented context variables (docs/policy.md), so a team can copy one into
a Policy and adapt it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.diagnostics import Severity
from compiler.policy.rules import Rule, Where
from compiler.resources import Resource
from llmops_spec import METRICS

PRODUCTION = ("prod", "production")
GRADED = tuple(sorted(name for name, info in METRICS.items() if info.model_graded))
NONCOMMERCIAL = r"(?i)(^|[-_.])nc([-_.]|$)|non[-_ ]?commercial|research[-_ ]only"
"""SPDX-style license ids that forbid commercial use: cc-by-nc-4.0, cc-by-nc-sa-4.0, ..., "non-commercial"."""


def _list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def _written(resource: Resource, fields: tuple[str, ...]) -> tuple[str, str]:
    """The first of the spec's ``fields`` the document writes, to point at what the author wrote."""
    spec = resource.doc.data.get("spec")
    written = next((f for f in fields if isinstance(spec, dict) and f in spec), fields[-1])
    return ("spec", written)


def _unredacted(_: Resource, variables: Mapping[str, Any]) -> Where:
    bad = [d["ref"] for d in variables["inputs"]["datasets"] if d["labels"].get("pii") == "true" and not d["redacted"]]
    return Where(("spec", "finetune", "dataset"), f"{', '.join(bad)} is pii and has no pii_redact" if bad else None)


def _overlap(resource: Resource, variables: Mapping[str, Any]) -> Where:
    evaluation = variables["data"]["evaluation"]
    shared = [t["ref"] for t in variables["data"]["training"] for e in evaluation
              if not _disjoint(t["provenance"], e["provenance"])]
    detail = f"{resource.spec.dataset} shares rows with the training data {', '.join(shared)}" if shared else None
    return Where(("spec", "dataset"), detail)


def _disjoint(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """The rule's test in Python, to name the overlapping data in the message."""
    common = [key for key in a if key in b]
    return not common or any(a[k] != "*" and b[k] != "*" and a[k] != b[k] for k in common)


def _noncommercial(_: Resource, variables: Mapping[str, Any]) -> Where:
    import re

    pattern = re.compile(NONCOMMERCIAL)
    bad = [f"{d['ref']} ({d['license']})" for d in variables["upstream"]["datasets"] if pattern.search(d["license"])]
    return Where(("spec", "model"), f"upstream: {', '.join(bad)}" if bad else None)


def _secret(resource: Resource, _: Mapping[str, Any]) -> Where:
    from compiler.policy.secrets import field_name, secrets_in

    hits = secrets_in(resource)
    if not hits:
        return Where(("metadata", "name"))
    detail = "; ".join(f"{hit.kind} in {field_name(hit.path)}" for hit in hits)
    return Where(hits[0].path, detail, hits[0].line_offset)


def _ungraded(resource: Resource, _: Mapping[str, Any]) -> Where:
    for i, threshold in enumerate(resource.spec.metrics):
        grader = threshold.grader
        if threshold.metric in GRADED and not (grader and (grader.model or (grader.hub and grader.revision))):
            path = ("spec", "metrics", i, "grader") if grader else ("spec", "metrics", i, "metric")
            return Where(path, f"{threshold.metric} has no pinned grader")
    return Where(("spec", "metrics"))


BUILTIN: list[Rule] = [
    Rule(
        id="prod-needs-gate", code="P001", severity=Severity.ERROR, kinds=frozenset({"Deployment"}),
        expression=(f"!(resource.spec.environment in {_list(PRODUCTION)} || "
                    f"(\"env\" in labels && labels.env in {_list(PRODUCTION)})) || size(resource.spec.requires) > 0"),
        message="a production deployment must require at least one EvalGate",
        hint="add requires: [EvalGate/<name>] with a gate that evaluates this deployment's model",
        summary="Nothing reaches production without passing an evaluation gate (environment or label env: prod).",
        explain=lambda r, v: Where(_written(r, ("requires", "environment", "model"))),
    ),
    Rule(
        id="pii-training-needs-redaction", code="P002", severity=Severity.ERROR, kinds=frozenset({"Model"}),
        labels=(("pii", "true"),),
        expression='inputs.datasets.all(d, !("pii" in d.labels && d.labels.pii == "true") || d.redacted)',
        message="a model trained on pii data must read it through a pii_redact transform",
        hint="add - pii_redact: {columns: [...]} to the dataset's transforms (or to a dataset it derives from)",
        summary="A model learns what it reads: personal data is redacted before training (pii is inherited downstream).",
        explain=_unredacted,
    ),
    Rule(
        id="eval-data-disjoint-from-training", code="P003", severity=Severity.ERROR, kinds=frozenset({"EvalGate"}),
        expression=("data.evaluation.all(e, data.training.all(t, "
                    "!t.provenance.exists(k, k in e.provenance) || "
                    "t.provenance.exists(k, k in e.provenance && t.provenance[k] != \"*\" && "
                    "e.provenance[k] != \"*\" && t.provenance[k] != e.provenance[k])))"),
        message="the gate evaluates on data the model was trained on",
        hint="evaluate on another split of the dataset (e.g. Dataset/<name>@eval) or on separate data",
        summary="A gate's verdict means nothing on training data: its dataset must share no rows with the model's.",
        explain=_overlap,
    ),
    Rule(
        id="noncommercial-data-not-deployed-commercially", code="P004", severity=Severity.ERROR,
        kinds=frozenset({"Deployment"}), labels=(("commercial", "true"),),
        expression=f"upstream.datasets.all(d, !d.license.matches({NONCOMMERCIAL!r}))",
        message="a deployment labelled commercial serves a model built from non-commercial data",
        hint="train on data licensed for commercial use, or drop the commercial label",
        summary="Licenses propagate: data licensed non-commercial (cc-by-nc-*) never reaches a commercial deployment.",
        explain=_noncommercial,
    ),
    Rule(
        id="no-secrets-in-specs", code="P005", severity=Severity.ERROR,
        expression="size(secrets) == 0",
        message="a secret is written in this spec",
        hint="remove it and rotate it (git history keeps it); give it to the runner through its environment instead",
        summary="Specs are committed and read by everyone: keys, tokens and private keys never go in them.",
        explain=_secret,
    ),
    Rule(
        id="graded-metrics-pin-grader", code="P006", severity=Severity.ERROR, kinds=frozenset({"EvalGate"}),
        expression=(f"resource.spec.metrics.all(m, !(m.metric in {_list(list(GRADED))}) || "
                    "has(m.grader) && (has(m.grader.model) || has(m.grader.hub) && has(m.grader.revision)))"),
        message="a model-graded metric must name a pinned grader",
        hint="set grader: {model: Model/<judge>}, or grader: {hub: org/name, revision: <commit sha>}",
        summary="A score given by a model is only comparable across runs when the grading model is pinned.",
        explain=_ungraded,
    ),
    Rule(
        id="owner-required", code="P007", severity=Severity.WARNING,
        expression="has(resource.metadata.owner)",
        message="the resource has no owner",
        hint="add owner: <team address> under metadata: someone must answer for it",
        summary="Every resource has an owner who answers for it.",
        explain=lambda r, v: Where(("metadata",)),
    ),
]
"""The pack, in code order. Codes are stable: docs/diagnostics.md lists them."""

REPLACED = Rule(
    id="builtin-replaced", code="P008", severity=Severity.ERROR, kinds=frozenset({"Policy"}), expression="true",
    message="a Policy replaces a built-in rule",
    hint="give the Policy another name to add a rule beside the built-in one; or keep the replacement and add a "
         "Waiver with policy: Policy/builtin-replaced and resources: [Policy/<its name>], a reason, an owner, an expiry",
    summary="Turning off or softening a rule every project gets is a decision someone answers for: a Policy that "
            "replaces a built-in error rule needs a Waiver of its own; any replacement is reported in every run.",
)
"""Not run on resources: check.py reports each replacement (replaced.py) as a finding of this rule."""

BUILTIN_NAMES = frozenset(rule.id for rule in BUILTIN) | {REPLACED.id}
"""What a Waiver may name as ``Policy/<name>`` without a Policy resource of that name."""
