"""The Prompt node: freeze the template and its variables as an artifact, so audits and serving read one file.

A secret in the spec (a policy error unless waived) is written as its hash, never its value: the
artifact is pushed to the remote, where everyone who can pull it reads it.
"""

from __future__ import annotations

import json

from compiler.checks.prompts import sandbox
from compiler.policy.redaction import redact_value
from runners.step import NodeFailed, StepContext, StepResult


def run(ctx: StepContext) -> StepResult:
    spec = ctx.spec
    try:
        sandbox().parse(spec.template)
    except Exception as exc:  # validate catches this first; a spec edited between plan and apply may not
        raise NodeFailed(f"{ctx.resource}: the template does not compile: {exc}", "run `llmops validate`", retryable=False) from None
    body = redact_value("spec", spec.model_dump(mode="json", by_alias=True, exclude={"description"}))
    # a plain write: ctx.out is a temp folder that apply renames into place once the step succeeds
    (ctx.out / "prompt.json").write_text(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                         encoding="utf-8", newline="\n")
    return StepResult(metrics={"variables": len(spec.variables)}, summary=f"{len(spec.variables)} variables")
