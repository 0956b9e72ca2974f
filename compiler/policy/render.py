"""A policy report as people read it: the section plan prints, the PR comment's table, the waived list.

Renders the versioned report document (``PolicyReport.to_dict()``), not the report object,
so a cached verdict renders without compiling, and this module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from compiler.render.escape import md, md_code, one_line

Style = Callable[[str, str], str]
PathShown = Callable[[str], str]
Body = Mapping[str, Any]


def _plain(text: str, _: str) -> str:
    return text


def _same(path: str) -> str:
    return path


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def summary_sentence(counts: Mapping[str, int]) -> str:
    """``2 errors, 1 warning, 3 waived, 1 expired waiver (9 policies, 120 resources)``."""
    parts = [_count(counts["errors"], "error"), _count(counts["warnings"], "warning"), f"{counts['waived']} waived"]
    if counts["expired_waivers"]:
        parts.append(_count(counts["expired_waivers"], "expired waiver"))
    scope = f"{_count(counts['policies'], 'policy', 'policies')}, {_count(counts['resources'], 'resource')}"
    return f"{', '.join(parts)} ({scope})"


def _where(finding: Mapping[str, Any], shown: PathShown) -> str:
    return f"{shown(finding['file'])}:{finding['line']}:{finding['col']}" if finding["line"] else shown(finding["file"])


def _t(value: Any) -> str:
    """A spec string in text output: on one line, so it cannot start a line of a CI log (``::error ...``)."""
    return one_line(str(value))


def _waivers(body: Body) -> dict[str, Mapping[str, Any]]:
    return {w["name"]: w for w in body.get("waivers", [])}


def waived_lines(body: Body, style: Style = _plain) -> list[str]:
    """One line per waived finding: the policy, the resource, and the waiver that answers for it."""
    waivers = _waivers(body)
    lines: list[str] = []
    for finding in body["findings"]:
        if finding["waived_by"] is None:
            continue
        waiver = waivers.get(finding["waived_by"])
        until = f" until {_t(waiver['expires'])} ({_t(waiver['owner'])})" if waiver else ""
        lines.append(style(f"  waived   {_t(finding['policy'])}  {_t(finding['resource'])}  by {_t(finding['waived_by'])}{until}",
                           "dim"))
    return lines


def render_policy_section(body: Body, style: Style = _plain, shown: PathShown = _same) -> str:
    """The short section after a plan: the verdict, then one line per unwaived finding and per waiver."""
    counts = body["counts"]
    verdict = "error" if counts["errors"] else ("warning" if counts["warnings"] or counts["expired_waivers"] else "bold")
    lines = [style(f"Policy: {summary_sentence(counts)}.", verdict)]
    for finding in body["findings"]:
        if finding["waived_by"] is None:
            severity = finding["severity"]
            lines.append(f"  {style(f'{severity:<7}', severity)}  {_t(finding['policy'])}  {_t(finding['resource'])}  "
                         f"{style(_t(_where(finding, shown)), 'path')}")
    lines += waived_lines(body, style)
    for waiver in body["expired_waivers"]:
        lines.append(style(f"  expired  waiver {_t(waiver['name'])} ({_t(waiver['policy'])}) on {_t(waiver['expires'])}",
                           "warning"))
    if counts["errors"]:
        lines.append(style("apply refuses while an error stands: fix it, or waive it with an owned, expiring Waiver "
                           "(llmops policy check shows each in full).", "dim"))
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A spec string in a table cell: one line, no tag, no code span, no cell boundary, no workflow command."""
    return md(text)


def render_policy_markdown(body: Body, shown: PathShown = _same, limit: int = 12_000) -> str:
    """The policy part of the pull-request comment: the counts, then a table of what stands and what is waived.

    At most ``limit`` bytes: rows that would not fit are counted, with a pointer to the full report.
    """
    counts = body["counts"]
    mark = "❌" if counts["errors"] else ("⚠️" if counts["warnings"] or counts["expired_waivers"] else "✅")
    out = ["#### Policy", "", f"{mark} **{summary_sentence(counts)}**", ""]
    waivers = _waivers(body)
    rows = [f"| {f['severity']} | {md_code(f['policy'])} | {md_code(f['resource'])} | {md_code(_where(f, shown))} | "
            f"{_cell(f['message'])} |" for f in body["findings"] if f["waived_by"] is None]
    for f in body["findings"]:
        if f["waived_by"] is None:
            continue
        waiver = waivers.get(f["waived_by"], {})
        until = f", until {md(str(waiver['expires']))}" if waiver else ""
        rows.append(f"| waived | {md_code(f['policy'])} | {md_code(f['resource'])} | {md_code(_where(f, shown))} | "
                    f"waiver {md_code(f['waived_by'])}{until}: {_cell(str(waiver.get('reason', '')))} |")
    for w in body["expired_waivers"]:
        resources = ", ".join(md_code(str(r)) for r in w["resources"])
        rows.append(f"| expired waiver | {md_code(w['policy'])} | {resources} | {md_code(shown(w['file']))} | "
                    f"waiver {md_code(w['name'])} expired on {md(str(w['expires']))} |")
    if rows:
        out += ["| | policy | resource | where | finding |", "|---|---|---|---|---|"]
        budget = limit - len("\n".join(out).encode()) - 200
        for i, row in enumerate(rows):
            budget -= len(row.encode()) + 1
            if budget < 0:
                out.append(f"| … | *{len(rows) - i} more not shown* | | | every finding is annotated on the diff "
                           "(code scanning), or run `llmops policy check` |")
                break
            out.append(row)
    return "\n".join(out).rstrip("\n") + "\n"
