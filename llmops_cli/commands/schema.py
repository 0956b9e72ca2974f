"""llmops schema: JSON Schema for editors, one per kind and one for any document."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("schema")
@click.option("-o", "--out", type=click.Path(path_type=Path, file_okay=False),
              help="Write every schema file into this folder (e.g. schemas/).")
@click.option("--kind", help="Print the schema of one kind instead of the any-document schema.")
@click.option("--check", is_flag=True, help="With --out: exit 1 when the folder is out of date, writing nothing.")
@click.pass_context
def command(ctx: click.Context, out: Path | None, kind: str | None, check: bool) -> None:
    """Print the schema, or write them all with --out.

    Point yaml-language-server at it with a first line in each spec file:
    # yaml-language-server: $schema=../schemas/llmops.schema.json
    """
    from llmops_spec import KINDS
    from llmops_spec.schema import schema_files

    files = schema_files()
    if out is None:
        if kind is not None and kind not in KINDS:
            raise click.BadParameter(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}", param_hint="--kind")
        click.echo(files[f"{kind.lower()}.schema.json" if kind else "llmops.schema.json"], nl=False)
        return
    stale = [name for name, text in files.items()
             if not (out / name).exists() or (out / name).read_text(encoding="utf-8") != text]
    if check:
        for name in stale:
            click.echo(f"{out / name} is out of date", err=True)
        if stale:
            click.echo("  hint: run llmops schema -o " + str(out), err=True)
        ctx.exit(1 if stale else 0)
    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).write_text(files[name], encoding="utf-8")
    click.echo(f"wrote {len(stale)} of {len(files)} schema files to {out}" if stale else f"{out} is up to date")
