"""llmops pull [PATH]: restore every artifact llmops.lock pins, from the DVC remote (a fresh clone's first step)."""

from __future__ import annotations

from pathlib import Path

import click

from llmops_cli.common import default_path


@click.command("pull")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def command(ctx: click.Context, path: Path | None) -> None:
    """Check out the artifacts of every applied node."""
    from compiler.lockfile import read_lock
    from runners.dvc_store import Store
    from runners.step import NodeFailed

    root = (path or default_path()).resolve()
    lock, problems = read_lock(root)
    if problems:
        click.echo(f"error: {problems[0].message}", err=True)
        ctx.exit(1)
    folders = sorted({root / out for entry in lock.nodes.values() for out, md5 in entry.outputs.items()
                      if isinstance(md5, str) and out.startswith("artifacts/")})
    store = Store(root)
    try:
        store.restore(folders)
    except NodeFailed as exc:
        click.echo(f"error: {exc.message}\n  hint: {exc.hint}", err=True)
        ctx.exit(1)
    finally:
        store.close()
    stale = [f for f in folders if store.recorded_md5(f) not in {e.outputs.get(str(f.relative_to(root))) for e in lock.nodes.values()}]
    click.echo(f"Restored {len(folders)} artifacts." + (f" {len(stale)} .dvc files disagree with llmops.lock: {stale[0]}" if stale else ""))
    ctx.exit(1 if stale else 0)
