"""llmops call [PATH] Deployment/x JSON: send one request to a deployment, at the URL the lock records."""

from __future__ import annotations

import json
from pathlib import Path

import click

from llmops_cli.common import default_path


@click.command("call")
@click.argument("deployment")
@click.argument("body", default='{"text": "hello"}')
@click.option("--project", "path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The project (default: the current folder).")
@click.pass_context
def command(ctx: click.Context, deployment: str, body: str, path: Path | None) -> None:
    """POST BODY (JSON) to DEPLOYMENT (Deployment/name) and print the answer."""
    import urllib.error

    try:
        payload = json.loads(body)
    except ValueError as exc:
        click.echo(f"error: BODY is not JSON: {exc}", err=True)
        ctx.exit(1)
    except RecursionError:  # the parser recurses per [ or {
        click.echo("error: BODY nests lists or objects too deeply to parse", err=True)
        click.echo('  hint: a request is a row, e.g. {"text": "hello"}, or {"inputs": [...]}', err=True)
        ctx.exit(1)
    from compiler.lockfile import read_lock
    from runners.steps.deploy import request

    root = (path or default_path()).resolve()
    lock, _ = read_lock(root)
    name = deployment if deployment.startswith("Deployment/") else f"Deployment/{deployment}"
    entry = lock.nodes.get(f"{name}:deploy")
    serve = entry.outputs.get("serve") if entry else None
    if not serve:
        click.echo(f"error: {name} is not deployed (not in {root / 'llmops.lock'})", err=True)
        click.echo("  hint: llmops apply first", err=True)
        ctx.exit(1)
    try:
        answer = request(serve["url"], payload)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        click.echo(f"error: {serve['url']} did not answer: {exc}", err=True)
        click.echo("  hint: is the cluster up? `llmops plan` checks for drift; `llmops apply` restores it", err=True)
        ctx.exit(1)
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
