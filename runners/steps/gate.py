"""The EvalGate verdict node: reads the evaluation, decides (compiler.gate), writes verdict.json."""

from __future__ import annotations

import json

from compiler.gate import decide_gate
from runners.step import GateFailed, NodeFailed, StepContext, StepResult


def run(ctx: StepContext) -> StepResult:
    source = ctx.input("evaluate") / "metrics.json"
    try:
        evaluation = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise NodeFailed(f"{ctx.resource}: cannot read the evaluation {source.name}: {exc}", retryable=False) from None
    baseline = ctx.extra.get("baseline")
    verdict = decide_gate(ctx.spec, evaluation, baseline)
    body = {**verdict.to_dict(), "baseline": ctx.extra.get("baseline_source"), "on_fail": ctx.spec.on_fail,
            "model": evaluation.get("model")}  # the model judged; apply re-derives this verdict before a deployment
    # a plain write: ctx.out is a temp folder that apply renames into place once the step succeeds
    (ctx.out / "verdict.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8", newline="\n")
    metrics = {"passed": verdict.passed, "n": verdict.n, **evaluation.get("metrics", {})}
    if not verdict.passed and ctx.spec.on_fail == "block":
        raise GateFailed(f"{ctx.resource} {verdict.summary()}", body)
    note = "" if verdict.passed else " (on_fail: warn, dependents proceed)"
    return StepResult(metrics=metrics, summary=verdict.summary() + note, details={"verdict": body})
