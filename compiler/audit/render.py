"""Audit answers as terminal text (JSON is each value's ``to_dict``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from compiler.audit.history import iso
from compiler.audit.log import apply_summary

if TYPE_CHECKING:  # the types only: ``audit log`` need not import lineage's readers
    from compiler.audit.chain import ChainReport
    from compiler.audit.lineage import Lineage
    from compiler.audit.log import LogEntry

Style = Callable[[str, str], str]
SYMBOLS = {"added": ("+", "create"), "removed": ("-", "delete"), "changed": ("~", "update")}


def _plain(text: str, _: str) -> str:
    return text


_SCALARS = {None: "null", True: "true", False: "false"}


def short(value: Any, limit: int = 70) -> str:
    """A value as JSON (a string as itself), cut at ``limit``; scalars, most of a history, without the encoder."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool):
        text = _SCALARS[value]
    elif type(value) is int or (type(value) is float and math.isfinite(value)):
        text = repr(value)  # what json.dumps writes for them
    else:
        import json

        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    """Set values as (dotted path, value), leaving out what is unset (null): the settings an auditor reads."""
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in leaves(value[key], f"{path}.{key}")]
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, f"{path}[{i}]")]
    return [] if value is None else [(path, value)]


def render_verify(report: ChainReport, log_name: str, style: Style = _plain) -> str:
    against = f", checked against {report.commits_checked} committed version{'s' if report.commits_checked != 1 else ''}"
    if report.ok:
        head = f", head {report.head[:16]}" if report.head else ""
        return style(f"{log_name}: {report.records} record{'s' if report.records != 1 else ''}, chain intact{head}{against}", "bold")
    p = report.problem
    assert p is not None
    where = f" at line {p.line}" if p.line else ""
    lines = [style(f"{log_name}: TAMPERED ({p.how}){where}", "error"), f"  {p.detail}"]
    if p.commit:
        lines.append(f"  compared with commit {p.commit}")
    lines.append(f"  the first {report.records} record{'s' if report.records != 1 else ''} verify{against}")
    lines.append(style("  hint: restore the log from git (git checkout -- " + log_name + ") and find out who changed it", "hint"))
    return "\n".join(lines)


def render_log(entries: list[LogEntry], style: Style = _plain) -> str:
    out: list[str] = []
    for entry in entries:
        c = entry.spec.commit
        merge = f"  (merge of {', '.join(p[:8] for p in c.parents)})" if c.is_merge else ""
        date = iso(c.authored)
        out.append(style(f"commit {c.sha[:12]}  {date}  {c.author} <{c.email}>{merge}", "bold"))
        out.append(f"    {c.subject}")
        for change in entry.spec.changes:
            symbol, kind = SYMBOLS[change.action]
            invalid = "  (does not validate)" if not change.valid else ""
            out.append(style(f"  {symbol} {change.ref}  {change.file}{invalid}", kind))
            for f in change.fields:
                out.append(style(f"      {f.path}: {short(f.old)} -> {short(f.new)}", "dim"))
        if entry.spec.spec_files and not entry.spec.changes and not entry.spec.renamed:
            out.append(style(f"  no resource changed ({', '.join(entry.spec.spec_files)}: comments or formatting)", "dim"))
        for old, new in entry.spec.renamed:
            out.append(style(f"  renamed {old} -> {new} (no resource changed)", "dim"))
        for status, path in entry.spec.other_files:
            out.append(style(f"  file {status} {path}", "dim"))
        if entry.policy is not None:
            out.append(f"  policy: {entry.policy.summary}")
        for record in entry.applies:
            s = apply_summary(record)
            gates = ", ".join(f"{ref} {'passed' if v.get('passed') else 'failed'}" for ref, v in s["gates"].items())
            out.append(style(f"  applied {s['when']} by {s['who']}: {s['result']} (record {s['seq']})"
                             + (f"; gates: {gates}" if gates else ""), "note"))
        out.append("")
    out.append(f"{len(entries)} commit{'s' if len(entries) != 1 else ''}")
    return "\n".join(out)


def render_lineage(lin: Lineage, style: Style = _plain) -> str:
    out = [style(f"{lin.deployment} at {lin.moment.iso} ({lin.moment.label})", "bold"), f"  {lin.note}"]
    if lin.commit:
        out.append(f"  specs of commit {lin.commit}")
    for item in lin.items:
        out.append("")
        out.append(style(f"  {item.node}  fingerprint {item.fingerprint}", "bold"))
        for name, md5 in sorted(item.outputs.items()):
            out.append(f"      output {name}: {short(md5)}")
        for source, md5 in sorted(item.data.items()):
            out.append(f"      data {source}: {md5}")
        for key, value in item.settings.items():
            out.extend(f"      {path}: {short(leaf, 100)}" for path, leaf in leaves(value, key))
        for key, value in sorted(item.metrics.items()):
            out.append(f"      metric {key}: {short(value)}")
        if item.applied:
            a = item.applied
            out.append(style(f"      applied {a['at']} by {a['by']} from {str(a['commit'])[:12]}"
                             + (f" (record {a['record']})" if a.get("record") else ""), "dim"))
        if item.introduced:
            i = item.introduced
            out.append(style(f"      introduced by {i['commit'][:12]} {i['date']} {i['author']} <{i['email']}>: {i['message']}", "dim"))
    if lin.gates:
        out.append("")
        for ref, verdict in sorted(lin.gates.items()):
            out.append(f"  gate {ref}: {'passed' if verdict.get('passed') else 'FAILED'} (record {verdict.get('seq')}, {verdict.get('when')})")
    if lin.waivers:
        out.append("")
        for w in lin.waivers:
            out.append(f"  waiver {w['waiver']} of {w['policy']} for {', '.join(w['resources'])}, until {w['expires']}: "
                       f"{w['reason']} ({w['owner']})")
    return "\n".join(out)
