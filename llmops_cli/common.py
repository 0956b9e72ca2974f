"""What the commands share: the spec path argument, output styling, and diagnostic printing."""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # commands that print no diagnostic (audit, call, down) need not import them
    from compiler.diagnostics import Diagnostic

STYLES = {
    "error": {"fg": "red", "bold": True}, "warning": {"fg": "yellow", "bold": True}, "note": {"fg": "cyan"},
    "path": {"bold": True}, "hint": {"fg": "cyan"}, "dim": {"dim": True}, "bold": {"bold": True},
    "create": {"fg": "green"}, "update": {"fg": "yellow"}, "delete": {"fg": "red"}, "no-op": {"dim": True},
}


def default_path() -> Path:
    """``specs/`` when it exists here (the usual layout), else the current folder."""
    return Path("specs") if Path("specs").is_dir() else Path(".")


path_argument = click.argument("path", type=click.Path(path_type=Path), required=False)


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def styler(enabled: bool | None = None) -> Any:
    on = use_color() if enabled is None else enabled

    def style(text: str, kind: str) -> str:
        return click.style(text, **STYLES[kind]) if on and kind in STYLES else text

    return style


_MENTION = re.compile(r"(?<![\w./-])([\w./-]+\.ya?ml)(?=:\d)")


def rebase(diagnostics: list[Diagnostic], root: Path) -> list[Diagnostic]:
    """Paths relative to the current folder, so editors and CI can open them: the file, and spec files a hint names."""
    cwd = Path.cwd()

    def shown(path: str) -> str:
        full = Path(path) if Path(path).is_absolute() else root / path
        try:
            return Path(os.path.relpath(full, cwd)).as_posix()
        except ValueError:
            return full.as_posix()

    def mention(match: re.Match[str]) -> str:
        return shown(match[1]) if (root / match[1]).is_file() else match[1]

    from dataclasses import replace

    return [replace(d, file=shown(d.file), hint=_MENTION.sub(mention, d.hint) if d.hint else d.hint) for d in diagnostics]


@lru_cache(maxsize=64)
def _lines(file: str) -> list[str] | None:
    """The lines of a spec file a diagnostic names: a regular file, not a symlink, capped (compiler/safe_read.py)."""
    from compiler.safe_read import MAX_SPEC_BYTES, ReadRefused, read_regular

    try:
        return read_regular(file, MAX_SPEC_BYTES).decode("utf-8", errors="replace").splitlines()
    except (OSError, ReadRefused):
        return None


def source_line(file: str, line: int) -> str | None:
    lines = _lines(file)
    return lines[line - 1] if lines and 0 < line <= len(lines) else None


def print_diagnostics(diagnostics: list[Diagnostic], fmt: str, summary: bool = True) -> None:
    """Render to stdout in ``fmt`` (text | json | github); text adds a summary line on stderr."""
    from compiler.render.diagnostics import render_github, render_json, render_text, summary_line

    if fmt == "json":
        click.echo(render_json(diagnostics))
    elif fmt == "github":
        if diagnostics:
            click.echo(render_github(diagnostics))
    else:
        text = render_text(diagnostics, source_line, styler())
        if text:
            click.echo(text)
        if summary:
            click.echo(summary_line(diagnostics), err=True)


def short_lived_gc() -> None:
    """Tune the garbage collector for a short-lived compiler run.

    Loading 10,000 specs builds millions of small containers; CPython's collector would
    rescan them again and again (half the warm run time at that size). A CLI run ends
    in seconds and builds no reference cycles worth reclaiming, so collect rarely.
    """
    import gc

    gc.freeze()
    gc.set_threshold(500_000, 50, 1000)


def drift_check(root: Path, refresh: bool = True, address: str | None = None) -> Any:
    """For plan_project: look at what the lock's deployments serve now; notes go to stderr.

    The cluster asked is the one apply would use (``address``, else the environment, else
    the project's verified local head: runners/cluster.py ``known_dashboard``), never a URL
    that the lock names.
    """
    def check(lock: Any) -> dict[str, str]:
        if not refresh:
            return {}
        from compiler.drift import deploy_targets, detect_drift

        targets = deploy_targets(lock)
        if not targets:
            return {}
        from runners.cluster import known_dashboard
        from runners.serve_observe import observe

        drifted, notes = detect_drift(lock, observe(known_dashboard(root, address), targets))
        for note in notes:
            click.echo(f"note: {note}", err=True)
        return drifted

    return check
