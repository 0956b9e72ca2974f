"""The contract between apply and the code that runs one node (Kedro's node/runner split).

A step is a plain function ``run(ctx: StepContext) -> StepResult``. It reads its inputs
from ``ctx``, writes everything it produces under ``ctx.out`` (an empty folder), and
returns what the lock should record. It never touches DVC, the lock or Ray: apply does
(steps run inside Ray workers; DVC is driven by the one driver process).

Artifact layout per step (what the next step reads; documented in docs/artifacts.md):

    prepare   all.jsonl, <split>.jsonl per split, report.json
    prompt    prompt.json
    import    model/ (save_pretrained, tokenizer included), llmops_model.json
    finetune  model/, llmops_model.json, loss.json, loss.png
    evaluate  metrics.json, predictions.jsonl, confusion_matrix.png (classifiers)
    gate      verdict.json
    deploy    deployment.json

Failures are raised as ``NodeFailed`` with a message written for the user; apply shows
it as the node's own error, never a library traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class NodeFailed(Exception):
    """A node could not do its work; ``message`` and ``hint`` are shown to the user as they are."""

    def __init__(self, message: str, hint: str | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.retryable = retryable


class GateFailed(NodeFailed):
    """An EvalGate's verdict is fail: not an error of the code, a decision that blocks dependents."""

    def __init__(self, message: str, verdict: dict[str, Any]) -> None:
        super().__init__(message, hint="see the gate's verdict.json for each metric", retryable=False)
        self.verdict = verdict


@dataclass(frozen=True)
class StepContext:
    """Everything one node may read.

    ``inputs`` maps each reference the spec makes, exactly as written (``Dataset/x@train``,
    ``Prompt/p``, ``Model/m``), to what it reads: for a dataset, the jsonl file of that split
    (``all.jsonl`` when no split is named); for anything else, the producing node's output
    folder. ``specs`` maps the same references to the referenced resource's validated spec
    (a Prompt's template and variables, a Model's task and labels).
    """

    root: Path                      # the project root (where llmops.lock lives); source paths are relative to it
    node: str                       # "Model/ticket-classifier:finetune"
    step: str                       # prepare | prompt | import | finetune | evaluate | gate | deploy
    resource: str                   # "Model/ticket-classifier"
    spec: Any                       # the resource's validated llmops_spec model
    out: Path                       # an empty folder; everything the step produces goes here
    inputs: dict[str, Path] = field(default_factory=dict)
    specs: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # step-specific facts from the driver (e.g. a gate's baseline metrics)

    def input(self, reference: Any) -> Path:
        """The path of what ``reference`` (a Ref or its string) reads."""
        key = str(reference)
        if key not in self.inputs:
            raise NodeFailed(f"{self.node}: input {key} is not available", "this is a bug in apply: report it")
        return self.inputs[key]


@dataclass
class StepResult:
    """What a step reports back; apply records it in the lock.

    ``metrics``: numbers worth showing in plans and audits (row counts, loss, eval metrics).
    ``summary``: one line for the progress display. ``details``: small JSON-able facts
    the lock keeps (a deploy's app name and URL, a gate's verdict).
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """How one node's task ended, as the driver reads it back (a plain value: it crosses Ray's object store).

    ``status``: ``applied`` (``result`` and the ``manifest`` of its pushed outputs), ``gate-failed``
    (the verdict's outputs were pushed too: they are landed, and dependents are blocked) or
    ``failed`` (``message``, ``hint``; ``retryable`` when another attempt may succeed).
    ``transfer``: seconds and bytes spent fetching inputs and pushing outputs.
    """

    status: str
    result: StepResult | None = None
    manifest: Any = None               # runners.objects.Manifest
    message: str = ""
    hint: str = ""
    retryable: bool = True
    transfer: dict[str, float] = field(default_factory=dict)

    @classmethod
    def failure(cls, exc: NodeFailed, transfer: dict[str, float] | None = None) -> Outcome:
        return cls("failed", message=exc.message, hint=exc.hint or "", retryable=exc.retryable, transfer=transfer or {})
