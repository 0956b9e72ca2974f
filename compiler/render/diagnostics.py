"""Diagnostics as text (with the offending source line), JSON, or GitHub annotations."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from compiler.diagnostics import Diagnostic, Severity
from compiler.render.escape import MAX_MESSAGE, clip, one_line, workflow_data, workflow_property

SourceLine = Callable[[str, int], str | None]
SOURCE_WIDTH = 160
"""Characters of the offending source line shown, around the column."""


def source_window(text: str, col: int, width: int = SOURCE_WIDTH) -> tuple[str, int]:
    """The part of a source line shown, and the caret's column in it: the whole line when it is short,
    else ``width`` characters around ``col`` with ellipses where it was cut."""
    text = text.rstrip("\r\n")
    if len(text) <= width:
        return one_line(text, None), col
    start = max(0, min(max(col - 1, 0) - width // 2, len(text) - width))
    shown = one_line(text[start:start + width], None)
    prefix = "…" if start else ""
    suffix = "…" if start + width < len(text) else ""
    return prefix + shown + suffix, col - start + len(prefix)


def summary_line(diagnostics: list[Diagnostic]) -> str:
    counts = Counter(d.severity for d in diagnostics)
    errors, warnings = counts[Severity.ERROR], counts[Severity.WARNING]
    if not errors and not warnings:
        return "no problems found"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


def render_text(diagnostics: list[Diagnostic], source_line: SourceLine | None = None,
                style: Callable[[str, str], str] = lambda text, _: text) -> str:
    """``file:line:col: severity[CODE] message``, the source line with a caret, then the hint."""
    out: list[str] = []
    for d in diagnostics:
        where = f"{d.file}:{d.line}:{d.col}" if d.line else d.file
        head = style(f"{d.severity.value}[{d.code}]", d.severity.value)
        out.append(f"{style(one_line(where), 'path')}: {head} {one_line(d.message, MAX_MESSAGE)}")
        text = source_line(d.file, d.line) if (source_line and d.line) else None
        if text is not None:
            gutter = f"{d.line:>5} | "
            shown, col = source_window(text, d.col)
            out.append(style(gutter, "dim") + shown)
            if d.col:
                out.append(style(" " * (len(gutter) - 2) + "| ", "dim") + " " * (col - 1) + style("^", d.severity.value))
        if d.hint:
            out.append(f"  {style('hint', 'hint')}: {one_line(d.hint, MAX_MESSAGE)}")
    return "\n".join(out)


def render_json(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    body = {"format_version": 1, "ok": errors == 0, "errors": errors,
            "warnings": sum(d.severity is Severity.WARNING for d in diagnostics),
            "diagnostics": [_bounded(d.to_dict()) for d in diagnostics]}
    return json.dumps(body, indent=2, ensure_ascii=False)


def _bounded(body: dict[str, object]) -> dict[str, object]:
    for key in ("message", "hint"):
        if isinstance(body.get(key), str):
            body[key] = clip(body[key], MAX_MESSAGE)  # type: ignore[arg-type]
    return body


def render_github(diagnostics: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands: each diagnostic annotates its line in the pull request."""
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}
    out = []
    for d in diagnostics:
        props = [f"file={workflow_property(d.file)}"]
        if d.line:
            props += [f"line={d.line}", f"col={d.col}"]
        props.append(f"title={workflow_property(f'{d.code} {d.title}'.strip())}")
        message = clip(d.message, MAX_MESSAGE) + (f"\nhint: {clip(d.hint, MAX_MESSAGE)}" if d.hint else "")
        out.append(f"::{level[d.severity]} {','.join(props)}::{workflow_data(message)}")
    return "\n".join(out)
