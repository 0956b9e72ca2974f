"""llmops init [PATH]: make the project ready for apply (DVC repository, default local remote, artifacts/)."""

from __future__ import annotations

from pathlib import Path

import click

from llmops_cli.common import default_path


@click.command("init")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--remote", help="DVC remote for artifacts: a folder, or s3://BUCKET/PREFIX; default: ~/.cache/llmops/dvc-remote.")
@click.option("--endpoint-url", help="An S3-compatible server's URL (http(s)://HOST[:PORT]) for an s3:// remote; "
                                     "credentials come from the environment, never from here.")
def command(path: Path | None, remote: str | None, endpoint_url: str | None) -> None:
    """Initialize DVC for the specs under PATH, with a default local remote when none is set."""
    from llmops_cli.errors import RUN_EXTRA, require_run_extra

    missing = require_run_extra("init")
    if missing:
        click.echo(f"error: {missing}", err=True)
        click.echo(f"  hint: {RUN_EXTRA}", err=True)
        raise click.exceptions.Exit(1)
    from runners.dvc_store import RemoteRefused, init_project

    root = (path or default_path()).resolve()
    try:
        done = init_project(root, remote, endpoint_url)
    except RemoteRefused as exc:
        click.echo(f"error: {exc.message}", err=True)
        click.echo(f"  hint: {exc.hint}", err=True)
        raise click.exceptions.Exit(1) from None
    for line in done or ["already initialized"]:
        click.echo(line)
    click.echo("Commit .dvc/, .dvcignore and artifacts/*.dvc with your specs; the data goes to the remote.")
