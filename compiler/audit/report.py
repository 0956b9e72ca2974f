"""``audit report``: one self-contained Markdown file and one HTML file for auditors.

Both hold the same sections: the apply log's integrity, a timeline of commits and
applies, each deployment's lineage now, policy verdicts and waivers at HEAD, and a
chart per EvalGate of its metrics over time (SVG: inline in HTML, a data URI in Markdown).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compiler.audit.applylog import APPLY_LOG_NAME, read_log_bytes, records
from compiler.audit.at_commit import PolicyCache, PolicyVerdict, policy_verdicts
from compiler.audit.chain import ChainReport
from compiler.audit.git import Repo, resolve_commit
from compiler.audit.lineage import Lineage, compiled_facts, lineage
from compiler.audit.log import LogEntry, audit_log
from compiler.audit.moments import Moment, parse_time
from compiler.audit.render import render_lineage, render_verify
from compiler.audit.snapshot import BlobCache
from compiler.audit.svg import line_chart
from compiler.audit.verify import verify_apply_log
from compiler.audit.history import iso


@dataclass
class Report:
    generated: datetime
    head: str | None
    chain: ChainReport
    log: list[LogEntry]
    applies: list[dict[str, Any]]
    lineages: list[Lineage] = field(default_factory=list)
    policy: PolicyVerdict | None = None
    waivers: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)   # gate -> SVG

    def summary(self) -> dict[str, Any]:
        return {"head": self.head, "log_intact": self.chain.ok, "commits": len(self.log), "applies": len(self.applies),
                "deployments": [lin.deployment for lin in self.lineages], "charts": sorted(self.charts)}


def numeric_leaves(value: Any, prefix: str = "") -> dict[str, float]:
    """Pure: every number in nested metrics, keyed by its dotted path (``accuracy``, ``slices.en.accuracy``)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {prefix: float(value)} if prefix else {}
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, inner in value.items():
            out.update(numeric_leaves(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {}


def gate_series(applies: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[datetime, float]]]]:
    """Pure: per EvalGate, each metric's values over time, from its evaluate node's runs in the log."""
    series: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    for record in applies:
        at = parse_time(str(record.get("when", "")))
        for node, entry in (record.get("nodes") or {}).items():
            if at is None or not node.endswith(":evaluate") or not isinstance(entry, dict):
                continue
            for metric, value in numeric_leaves(entry.get("metrics") or {}).items():
                series.setdefault(node.rsplit(":", 1)[0], {}).setdefault(metric, []).append((at, value))
    return series


def _thresholds(spec: dict[str, Any] | None) -> list[tuple[str, float]]:
    out = []
    for m in (spec or {}).get("metrics", []):
        if m.get("slice_by"):
            continue
        for bound in ("min", "max"):
            if isinstance(m.get(bound), (int, float)):
                out.append((f"{m['metric']} {bound} {m[bound]}", float(m[bound])))
    return out


def build_report(repo: Repo, root: Path, now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    applies = records(read_log_bytes(root))
    head = resolve_commit(repo, "HEAD")
    report = Report(now, head, verify_apply_log(root, repo), audit_log(repo, root, cache_root=root), applies)
    if head is None:
        return report
    _, specs, waivers = compiled_facts(repo, head)
    cache = BlobCache.load(root)
    report.lineages = [lineage(repo, root, ref, Moment(now), applies, cache) for ref in sorted(specs)
                       if ref.startswith("Deployment/")]
    report.policy = policy_verdicts(repo, [(head, now.date().isoformat())], PolicyCache(root)).get(head)
    today = now.date().isoformat()
    report.waivers = [{**w, "status": "in force" if str(w["expires"]) >= today else "expired"} for w in waivers]
    for gate, metrics in sorted(gate_series(applies).items()):
        report.charts[gate] = line_chart(f"{gate}: metrics over time", metrics, _thresholds(specs.get(gate)))
    return report


def _timeline(report: Report) -> list[tuple[str, str, str]]:
    """(time, what, detail) for commits and applies, oldest first."""
    rows = []
    for entry in report.log:
        c = entry.spec.commit
        what = ", ".join(f"{ch.action} {ch.ref}" for ch in entry.spec.changes) or "files only"
        rows.append((iso(c.committed), f"commit {c.sha[:10]} by {c.author}", f"{c.subject} ({what})"))
    for record in report.applies:
        gates = ", ".join(f"{g} {'passed' if v.get('passed') else 'failed'}" for g, v in (record.get("gates") or {}).items())
        rows.append((str(record.get("when")), f"apply #{record.get('seq')} by {record.get('who')}",
                     f"{record.get('result')} from {str(record.get('commit'))[:10]}" + (f"; {gates}" if gates else "")))
    return sorted(rows)


def _findings(report: Report) -> list[str]:
    if report.policy is None:
        return ["no commit to judge"]
    lines = [report.policy.summary]
    for finding in (report.policy.report or {}).get("findings", []):
        waived = f" (waived by {finding['waived_by']})" if finding.get("waived_by") else ""
        lines.append(f"{finding.get('severity', '')} {finding.get('policy', '')} on {finding.get('resource', '')}: "
                     f"{finding.get('message', '')}{waived}")
    return lines


def render_markdown(report: Report) -> str:
    out = [f"# Audit report", "", f"Generated {report.generated.strftime('%Y-%m-%dT%H:%M:%SZ')} at commit "
           f"`{report.head or 'none'}`.", "", "## Apply log", "", "```", render_verify(report.chain, APPLY_LOG_NAME), "```",
           "", "## Timeline", "", "| time | event | detail |", "|---|---|---|"]
    out += [f"| {t} | {w} | {d.replace('|', '/')} |" for t, w, d in _timeline(report)]
    out += ["", "## Deployments: lineage now", ""]
    for lin in report.lineages:
        out += [f"### {lin.deployment}", "", "```", render_lineage(lin), "```", ""]
    out += ["## Policy findings at HEAD", ""] + [f"- {line}" for line in _findings(report)]
    out += ["", "## Waivers", "", "| waiver | policy | resources | expires | status | reason | owner |", "|---|---|---|---|---|---|---|"]
    out += [f"| {w['waiver']} | {w['policy']} | {', '.join(w['resources'])} | {w['expires']} | {w['status']} | "
            f"{w['reason']} | {w['owner']} |" for w in report.waivers]
    out += ["", "## Gate metrics over time", ""]
    for gate, svg in report.charts.items():
        data = base64.b64encode(svg.encode()).decode()
        out += [f"### {gate}", "", f"![{gate} metrics over time](data:image/svg+xml;base64,{data})", ""]
    if not report.charts:
        out.append("No evaluation has been applied yet.")
    return "\n".join(out) + "\n"


def render_html(report: Report) -> str:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(t)}</td><td>{esc(w)}</td><td>{esc(d)}</td></tr>" for t, w, d in _timeline(report))
    lineages = "".join(f"<h3>{esc(lin.deployment)}</h3><pre>{esc(render_lineage(lin))}</pre>" for lin in report.lineages)
    findings = "".join(f"<li>{esc(line)}</li>" for line in _findings(report))
    waivers = "".join(f"<tr><td>{esc(w['waiver'])}</td><td>{esc(str(w['policy']))}</td><td>{esc(', '.join(w['resources']))}</td>"
                      f"<td>{esc(str(w['expires']))}</td><td>{esc(w['status'])}</td><td>{esc(w['reason'])}</td>"
                      f"<td>{esc(w['owner'])}</td></tr>" for w in report.waivers)
    charts = "".join(f"<h3>{esc(gate)}</h3>{svg}" for gate, svg in report.charts.items()) or "<p>No evaluation has been applied yet.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Audit report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:left}}pre{{background:#f6f6f6;padding:8px;overflow-x:auto}}</style>
</head><body>
<h1>Audit report</h1>
<p>Generated {esc(report.generated.strftime('%Y-%m-%dT%H:%M:%SZ'))} at commit <code>{esc(report.head or 'none')}</code>.</p>
<h2>Apply log</h2><pre>{esc(render_verify(report.chain, APPLY_LOG_NAME))}</pre>
<h2>Timeline</h2><table><tr><th>time</th><th>event</th><th>detail</th></tr>{rows}</table>
<h2>Deployments: lineage now</h2>{lineages}
<h2>Policy findings at HEAD</h2><ul>{findings}</ul>
<h2>Waivers</h2><table><tr><th>waiver</th><th>policy</th><th>resources</th><th>expires</th><th>status</th><th>reason</th><th>owner</th></tr>{waivers}</table>
<h2>Gate metrics over time</h2>{charts}
</body></html>
"""
