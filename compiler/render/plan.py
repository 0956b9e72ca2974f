"""A plan as Terraform-style text, versioned JSON, or a Markdown pull-request comment."""

from __future__ import annotations

import json
from collections.abc import Callable

from compiler.plan import Change, Plan
from compiler.render.escape import md, md_code, one_line

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "no-op": " "}
MARKDOWN_LIMIT = 60_000


def summary_sentence(plan: Plan) -> str:
    s = plan.summary
    if not plan.has_changes:
        return f"No changes. {s['no-op']} node{'s' if s['no-op'] != 1 else ''} up to date."
    return (f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete, "
            f"{s['no-op']} unchanged.")


def render_plan_text(plan: Plan, show_unchanged: bool = False,
                     style: Callable[[str, str], str] = lambda text, _: text) -> str:
    lines: list[str] = []
    shown = [c for c in plan.changes if show_unchanged or c.action != "no-op"]
    names = {c.node: one_line(c.node) for c in shown}  # a node a lock names is untrusted text: one line, always
    width = max((len(name) for name in names.values()), default=0)
    for change in shown:
        symbol = SYMBOLS[change.action]
        lines.append(style(f"  {symbol} {names[change.node]:<{width}}  {change.action}", change.action))
        for reason in change.reasons if change.action != "create" else ():
            lines.append(style(f"      {one_line(reason.detail)}", "dim"))
    if lines:
        lines.append("")
    lines.append(style(summary_sentence(plan), "bold"))
    return "\n".join(lines)


def render_plan_json(plan: Plan, extra: dict[str, object] | None = None) -> str:
    """The versioned plan document (docs/plan-format.md); byte-identical for the same inputs."""
    body = plan.to_dict()
    if extra:
        body.update(extra)
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _row(change: Change) -> str:
    """One table row; every spec or lock string in it escaped (no line break, tag, code span or cell escapes)."""
    why = "; ".join(md(r.detail) for r in change.reasons)
    return f"| {SYMBOLS[change.action]} | {md_code(change.node)} | {change.action} | {why} |"


def render_plan_markdown(plan: Plan, mermaid: str | None = None, title: str = "llmops plan",
                         limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: summary, table of changes, optional Mermaid graph; truncated under ``limit`` bytes."""
    head = [f"### {title}", "", f"**{summary_sentence(plan)}**", ""]
    changed = [c for c in plan.changes if c.action != "no-op"]
    if not changed:
        return "\n".join(head).rstrip() + "\n"
    table = ["| | node | action | why |", "|---|---|---|---|"]
    tail: list[str] = []
    if mermaid:
        tail = ["", "<details><summary>graph of the changes</summary>", "", "```mermaid", mermaid, "```", "", "</details>"]
    footer = ["", f"<sub>specs {plan.specs_digest[:12]} · lock {plan.lock_digest[:12]}</sub>"]
    budget = limit - len("\n".join(head + table + tail + footer).encode()) - 400
    rows: list[str] = []
    for i, change in enumerate(changed):
        row = _row(change)
        budget -= len(row.encode()) + 1
        if budget < 0:
            rows.append(f"| … | *{len(changed) - i} more changes not shown* | | "
                        "the full plan is in the `plan.json` artifact of this run, or run `llmops plan` locally |")
            tail = []  # the graph would not fit either
            break
        rows.append(row)
    return "\n".join(head + table + rows + tail + footer) + "\n"
