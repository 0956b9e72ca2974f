"""A policy report as people read it: the section plan prints, the PR comment's table, the waived list."""

from __future__ import annotations

from collections.abc import Callable

from compiler.policy.report import Finding, PolicyReport

Style = Callable[[str, str], str]
PathShown = Callable[[str], str]


def _plain(text: str, _: str) -> str:
    return text


def _same(path: str) -> str:
    return path


def _where(finding: Finding, shown: PathShown) -> str:
    return f"{shown(finding.file)}:{finding.line}:{finding.col}" if finding.line else shown(finding.file)


def waived_lines(report: PolicyReport, style: Style = _plain) -> list[str]:
    """One line per waived finding: the policy, the resource, and the waiver that answers for it."""
    lines: list[str] = []
    for finding in report.waived:
        waiver = report.waiver(finding.waived_by or "")
        until = f" until {waiver.expires.isoformat()} ({waiver.owner})" if waiver else ""
        lines.append(style(f"  waived   {finding.policy}  {finding.resource}  by {finding.waived_by}{until}", "dim"))
    return lines


def render_policy_section(report: PolicyReport, style: Style = _plain, shown: PathShown = _same) -> str:
    """The short section after a plan: the verdict, then one line per unwaived finding and per waiver."""
    verdict = "error" if report.errors else ("warning" if report.warnings or report.expired_waivers else "bold")
    lines = [style(f"Policy: {report.summary()}.", verdict)]
    for finding in report.unwaived:
        severity = finding.severity.value
        lines.append(f"  {style(f'{severity:<7}', severity)}  {finding.policy}  {finding.resource}  "
                     f"{style(_where(finding, shown), 'path')}")
    lines += waived_lines(report, style)
    for waiver in report.expired_waivers:
        lines.append(style(f"  expired  waiver {waiver.name} ({waiver.policy}) on {waiver.expires.isoformat()}", "warning"))
    if report.errors:
        lines.append(style("apply refuses while an error stands: fix it, or waive it with an owned, expiring Waiver.",
                           "dim"))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_policy_markdown(report: PolicyReport, shown: PathShown = _same) -> str:
    """The policy part of the pull-request comment: the counts, then a table of what stands and what is waived."""
    mark = "❌" if report.errors else ("⚠️" if report.warnings or report.expired_waivers else "✅")
    out = ["#### Policy", "", f"{mark} **{report.summary()}**", ""]
    rows = [f"| {f.severity.value} | `{f.policy}` | `{f.resource}` | `{_where(f, shown)}` | {_cell(f.message)} |"
            for f in report.unwaived]
    for finding in report.waived:
        waiver = report.waiver(finding.waived_by or "")
        until = f", until {waiver.expires.isoformat()}" if waiver else ""
        rows.append(f"| waived | `{finding.policy}` | `{finding.resource}` | `{_where(finding, shown)}` | "
                    f"waiver `{finding.waived_by}`{until}: {_cell(waiver.reason if waiver else '')} |")
    rows += [f"| expired waiver | `{w.policy}` | {', '.join(f'`{r}`' for r in sorted(map(str, w.resources)))} | "
             f"`{shown(w.source.file)}` | waiver `{w.name}` expired on {w.expires.isoformat()} |"
             for w in report.expired_waivers]
    if rows:
        out += ["| | policy | resource | where | finding |", "|---|---|---|---|---|", *rows, ""]
    return "\n".join(out)
