"""llmops down [PATH]: stop the project's local Ray cluster (its deployments stop serving)."""

from __future__ import annotations

from pathlib import Path

import click

from llmops_cli.common import default_path


@click.command("down")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
def command(path: Path | None) -> None:
    """Stop the local Ray cluster that apply started for the specs under PATH."""
    from runners.cluster import stop_local

    root = (path or default_path()).resolve()
    click.echo("Stopped the local Ray cluster." if stop_local(root) else "No local Ray cluster was running.")
