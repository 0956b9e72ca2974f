"""llmops down [PATH]: stop the project's local Ray cluster (its deployments stop serving).

Only a head this project started is signalled: the process ``.llmops/ray/cluster.json``
records must still match its pid, start time and command line (runners/cluster.py). A
record that proves nothing (a stale one, or one committed in a pull request) is reported,
and nothing is signalled.
"""

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
    stopped, refused = stop_local(root)
    if refused:
        click.echo(f"warning: {refused}", err=True)
        click.echo("  hint: .llmops/ray/cluster.json does not describe a cluster this project runs; "
                   "llmops replaces it when apply next starts one", err=True)
    click.echo("Stopped the local Ray cluster." if stopped else "No local Ray cluster was running.")
