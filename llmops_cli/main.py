"""Entry point. Subcommands are imported only when run, so ``llmops --help`` starts fast."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# name -> (module, short help). One module per command under llmops_cli/commands/.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("llmops_cli.commands.validate", "Check the specs; exit 1 on any error."),
    "plan": ("llmops_cli.commands.plan", "Show what apply would change, and why."),
    "policy": ("llmops_cli.commands.policy", "Check the specs against the policies; text, JSON, SARIF, annotations."),
    "apply": ("llmops_cli.commands.apply", "Execute a saved plan (or the specs) on Ray; DVC versions every output."),
    "init": ("llmops_cli.commands.init", "Prepare a project for apply: DVC and a default remote."),
    "pull": ("llmops_cli.commands.pull", "Restore the artifacts llmops.lock pins (fresh clones)."),
    "call": ("llmops_cli.commands.call", "Send one request to a deployment (the URL comes from llmops.lock)."),
    "down": ("llmops_cli.commands.down", "Stop the project's local Ray cluster."),
    "graph": ("llmops_cli.commands.graph", "Print the DAG as text, DOT or Mermaid."),
    "schema": ("llmops_cli.commands.schema", "Write JSON Schema for editors (yaml-language-server)."),
    "fmt": ("llmops_cli.commands.fmt", "Normalize spec files, keeping comments."),
    "audit": ("llmops_cli.commands.audit", "History, lineage at any moment, and the tamper-evident apply log."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="llmops-spec", prog_name="llmops")
def cli() -> None:
    """llmops: a GitOps compiler for the lifecycle of language models.

    Validate specs like a compiler, plan what would change and why, and apply it.
    """


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI with Terraform's exit codes: usage errors are 1, never a traceback for a user mistake."""
    try:
        code = cli.main(args=argv, prog_name="llmops", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # an llmops bug, not a user mistake: say so without a wall of traceback
        if os.environ.get("LLMOPS_DEBUG"):
            raise
        from llmops_cli.errors import environment_problem

        problem = environment_problem(exc)  # a full disk, a denied write, the run extra not installed
        if problem is not None:
            click.echo(f"llmops: error: {problem[0]}", err=True)
            click.echo(f"  hint: {problem[1]}", err=True)
            sys.exit(1)
        click.echo(f"llmops: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("  hint: this is a bug in llmops; rerun with LLMOPS_DEBUG=1 for the traceback and report it", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
