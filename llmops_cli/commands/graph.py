"""llmops graph [PATH]: the DAG of work as text, Graphviz DOT or Mermaid."""

from __future__ import annotations

from pathlib import Path

import click

from llmops_cli.common import short_lived_gc, default_path, path_argument, print_diagnostics, rebase


@click.command("graph")
@path_argument
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text", show_default=True)
@click.pass_context
def command(ctx: click.Context, path: Path | None, fmt: str) -> None:
    """Print the nodes under PATH in the order apply runs them."""
    short_lived_gc()
    from compiler import compile_project
    from compiler.render.graph import render_dot, render_graph_text, render_mermaid

    compilation = compile_project(path or default_path())
    if not compilation.ok:
        print_diagnostics(rebase(compilation.diagnostics, compilation.project.root), "text")
        ctx.exit(1)
    render = {"text": render_graph_text, "dot": render_dot, "mermaid": render_mermaid}[fmt]
    click.echo(render(compilation.graph))
