"""Diagnostics as text (with the offending source line), JSON, or GitHub annotations."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from compiler.diagnostics import Diagnostic, Severity

SourceLine = Callable[[str, int], str | None]


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
        out.append(f"{style(where, 'path')}: {head} {d.message}")
        text = source_line(d.file, d.line) if (source_line and d.line) else None
        if text is not None:
            gutter = f"{d.line:>5} | "
            shown = text.rstrip("\n").replace("\t", " ")
            out.append(style(gutter, "dim") + shown)
            if d.col:
                out.append(style(" " * (len(gutter) - 2) + "| ", "dim") + " " * (d.col - 1) + style("^", d.severity.value))
        if d.hint:
            out.append(f"  {style('hint', 'hint')}: {d.hint}")
    return "\n".join(out)


def render_json(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    body = {"format_version": 1, "ok": errors == 0, "errors": errors,
            "warnings": sum(d.severity is Severity.WARNING for d in diagnostics),
            "diagnostics": [d.to_dict() for d in diagnostics]}
    return json.dumps(body, indent=2, ensure_ascii=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands: each diagnostic annotates its line in the pull request."""
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}
    out = []
    for d in diagnostics:
        props = [f"file={_escape_property(d.file)}"]
        if d.line:
            props += [f"line={d.line}", f"col={d.col}"]
        props.append(f"title={_escape_property(f'{d.code} {d.title}'.strip())}")
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        out.append(f"::{level[d.severity]} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(out)
