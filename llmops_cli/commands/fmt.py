"""llmops fmt [PATH]: normalize spec files in place, keeping comments; --check for CI."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from llmops_cli.common import default_path, path_argument


@click.command("fmt")
@path_argument
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when a file is not formatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Print what would change.")
@click.pass_context
def command(ctx: click.Context, path: Path | None, check: bool, show_diff: bool) -> None:
    """Rewrite the spec files under PATH in the canonical layout."""
    from compiler.discover import find_spec_files, project_root
    from compiler.fmt import FormatError, format_text
    from compiler.safe_read import MAX_SPEC_BYTES, ReadRefused, read_regular
    from runners.files import write_atomic

    changed, failed = 0, 0
    target = path or default_path()
    root = project_root(target)
    for file in find_spec_files(target):
        try:  # as validate reads it: a regular file inside the project, capped (a FIFO or /dev/zero is refused)
            text = read_regular(file.absolute(), MAX_SPEC_BYTES, root).decode("utf-8")
            formatted = format_text(text, str(file))
        except ReadRefused as refused:
            click.echo(f"{file}: not formatted: the file {refused.message}", err=True)
            failed += 1
            continue
        except (OSError, UnicodeDecodeError, FormatError) as exc:
            click.echo(f"{file}: not formatted: {exc}", err=True)
            failed += 1
            continue
        if formatted == text:
            continue
        changed += 1
        if show_diff:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                                    f"a/{file}", f"b/{file}")), nl=False)
        if check:
            click.echo(f"would reformat {file}", err=True)
        else:
            write_atomic(file, formatted)
            click.echo(f"reformatted {file}", err=True)
    if check and changed:
        click.echo(f"{changed} file(s) would be reformatted; run llmops fmt", err=True)
    ctx.exit(1 if failed or (check and changed) else 0)
