"""llmops validate [PATH]: every problem in the specs, located; exit 1 on any error."""

from __future__ import annotations

from pathlib import Path

import click

from llmops_cli.common import short_lived_gc, default_path, path_argument, print_diagnostics, rebase


@click.command("validate")
@path_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="github: workflow commands that annotate the pull request.")
@click.option("--no-cache", is_flag=True, help="Parse every file afresh.")
@click.pass_context
def command(ctx: click.Context, path: Path | None, fmt: str, no_cache: bool) -> None:
    """Check every spec under PATH (default: specs/ or .) like a compiler."""
    short_lived_gc()
    from compiler import compile_project

    compilation = compile_project(path or default_path(), use_cache=not no_cache)
    print_diagnostics(rebase(compilation.diagnostics, compilation.project.root), fmt)
    ctx.exit(0 if compilation.ok else 1)
