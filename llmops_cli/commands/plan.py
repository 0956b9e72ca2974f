"""llmops plan [PATH]: what apply would create, update or delete, and why."""

from __future__ import annotations

import os
from pathlib import Path

import click

from llmops_cli.common import short_lived_gc, default_path, drift_check, path_argument, print_diagnostics, rebase, styler
from llmops_cli.commands.policy import plan_section


@click.command("plan")
@path_argument
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan (JSON) for apply.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing changes, 2 when something does, 1 on error.")
@click.option("--show-unchanged", is_flag=True, help="List unchanged nodes too.")
@click.option("--no-cache", is_flag=True, help="Compile every file afresh (no parse cache, no cached compilation).")
@click.option("--refresh/--no-refresh", default=True, show_default=True,
              help="Check that deployments serve what the lock says (drift), through the Ray dashboard.")
@click.pass_context
def command(ctx: click.Context, path: Path | None, out: Path | None, fmt: str, detailed_exitcode: bool,
            show_unchanged: bool, no_cache: bool, refresh: bool) -> None:
    """Diff the specs under PATH against llmops.lock."""
    short_lived_gc()
    from compiler.discover import project_root
    from compiler.plan_cache import plan_path
    from compiler.render.plan import MARKDOWN_LIMIT, render_plan_json, render_plan_markdown, render_plan_text

    target = path or default_path()  # a cached plan (nothing moved since the last) imports no spec model
    planned = plan_path(target, use_cache=not no_cache, drift=drift_check(project_root(target), refresh))
    plan, diagnostics, root = planned.plan, planned.diagnostics, planned.root
    if plan is None:
        print_diagnostics(rebase(diagnostics, root), "text" if fmt != "json" else "json")
        ctx.exit(1)
    if diagnostics:  # warnings only
        click.echo(err=True, message="")
        print_diagnostics(rebase(diagnostics, root), "text")
    if out is not None:
        from runners.files import write_atomic  # here: tempfile's imports cost a plan that saves nothing

        write_atomic(out, render_plan_json(plan))
    if fmt == "json":
        click.echo(render_plan_json(plan), nl=False)
    elif fmt == "markdown":
        from compiler.plan_cache import PlanGraph
        from compiler.render.graph import render_mermaid

        changed = {c.node: c.action for c in plan.changes if c.action != "no-op"}
        subgraph = PlanGraph({nid: n for nid, n in planned.graph.nodes.items() if nid in changed})
        policy = "\n" + plan_section(target, plan.specs_digest, "markdown", not no_cache, planned.compilation)
        mermaid = render_mermaid(subgraph, changed) if subgraph.nodes else None  # the whole comment stays under the limit:
        click.echo(render_plan_markdown(plan, mermaid, limit=MARKDOWN_LIMIT - len(policy.encode())) + policy, nl=False)
    else:
        click.echo(render_plan_text(plan, show_unchanged, styler()))
        click.echo("\n" + plan_section(target, plan.specs_digest, "text", not no_cache, planned.compilation))
        if out is not None:
            project = os.path.relpath(root)
            where = "" if project == "." else f" --project {project}"
            click.echo(f"\nSaved the plan to {out}. Apply exactly this plan with: llmops apply {out}{where}")
    ctx.exit(2 if detailed_exitcode and plan.has_changes else 0)
