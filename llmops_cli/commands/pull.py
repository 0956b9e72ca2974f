"""llmops pull [PATH]: restore every artifact llmops.lock pins, from the DVC remote (a fresh clone's first step)."""

from __future__ import annotations

from pathlib import Path

import click

from llmops_cli.common import default_path


@click.command("pull")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def command(ctx: click.Context, path: Path | None) -> None:
    """Check out the artifacts of every applied node.

    Only what the apply log vouches for is restored (compiler/state_trust.py): a lock edited
    outside apply is refused here as in plan and apply, and an output path that would land
    outside the project is refused whatever the lock says.
    """
    from compiler.paths import resolve_inside
    from compiler.state_trust import read_trusted_lock
    from runners.dvc_store import Store
    from runners.step import NodeFailed

    root = (path or default_path()).resolve()
    lock, problems = read_trusted_lock(root)
    if problems:
        click.echo(f"error: {problems[0].message}", err=True)
        if problems[0].hint:
            click.echo(f"  hint: {problems[0].hint}", err=True)
        ctx.exit(1)
    named = sorted({out for entry in lock.nodes.values() for out, md5 in entry.outputs.items()
                    if isinstance(md5, str) and out.startswith("artifacts/")})
    outside = [out for out in named if resolve_inside(root, out) is None]
    if outside:
        click.echo(f"error: llmops.lock names an output outside the project: {outside[0]!r}", err=True)
        ctx.exit(1)
    folders = [root / out for out in named]
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
