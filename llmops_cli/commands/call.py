"""llmops call Deployment/x [JSON]: send one request to a deployment.

The request goes where the lock says the deployment serves, but only on this machine: the
lock is a file of the checkout (a pull request can edit it), so an address it names on
another host would receive the user's payload. A URL on another host needs ``--url``, the
user's own choice. The lock is read as plan reads it (every entry vouched for by the apply
log), and no credential is ever sent.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from pathlib import Path

import click

from llmops_cli.common import default_path, print_diagnostics, rebase

SETTLE_S = 15.0  # how long an answer of Serve's proxy itself (a route it does not know yet, no replica ready) is asked again


def on_this_machine(url: str) -> bool:
    """Pure: True for an http(s) URL whose host is a loopback address literal (127.0.0.0/8, ::1)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("call")
@click.argument("deployment")
@click.argument("body", default='{"text": "hello"}')
@click.option("--project", "path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The project (default: the current folder).")
@click.option("--url", help="Send the request to this URL instead of the one llmops.lock records.")
@click.pass_context
def command(ctx: click.Context, deployment: str, body: str, path: Path | None, url: str | None) -> None:
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
    from runners.steps.deploy import request

    if url is None:
        url = _recorded_url(ctx, (path or default_path()).resolve(), deployment)
    try:
        answer = request(url, payload, settle=SETTLE_S)
    except urllib.error.HTTPError as exc:
        said = exc.read(300).decode("utf-8", errors="replace")
        click.echo(f"error: {url} answered HTTP {exc.code} {exc.reason}: {said}".rstrip(": "), err=True)
        ctx.exit(1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        click.echo(f"error: {url} did not answer: {exc}", err=True)
        click.echo("  hint: is the cluster up? `llmops plan` checks for drift; `llmops apply` restores it", err=True)
        ctx.exit(1)
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))


def _recorded_url(ctx: click.Context, root: Path, deployment: str) -> str:
    """Where the vouched-for lock says ``deployment`` serves, when that is on this machine; else exit 1."""
    from compiler.state_trust import read_trusted_lock

    lock, problems = read_trusted_lock(root)
    if problems:
        print_diagnostics(rebase(problems, root), "text")
        ctx.exit(1)
    name = deployment if deployment.startswith("Deployment/") else f"Deployment/{deployment}"
    entry = lock.nodes.get(f"{name}:deploy")
    serve = entry.outputs.get("serve") if entry else None
    if not isinstance(serve, dict) or not isinstance(serve.get("url"), str):
        click.echo(f"error: {name} is not deployed (not in {root / 'llmops.lock'})", err=True)
        click.echo("  hint: llmops apply first", err=True)
        ctx.exit(1)
    if not on_this_machine(serve["url"]):
        shown = serve["url"][:200].encode("unicode_escape").decode("ascii")
        click.echo(f"error: llmops.lock says {name} serves at {shown}, which is not on this machine; "
                   "nothing was sent", err=True)
        click.echo("  hint: a URL in the lock is only followed to this machine's loopback address; "
                   "to send the request elsewhere, name it: --url URL", err=True)
        ctx.exit(1)
    return serve["url"]
