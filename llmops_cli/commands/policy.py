"""llmops policy check [PATH]: every policy on every resource; text for people, SARIF and annotations for CI."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from llmops_cli.common import default_path, path_argument, print_diagnostics, rebase, short_lived_gc, source_line, styler

EXIT_OK, EXIT_FAILED = 0, 1
FAIL_ON = {"error": ("error",), "warning": ("error", "warning"), "never": ()}


@click.group("policy")
def command() -> None:
    """Policy as code: the built-in pack and the project's Policies, with audited Waivers."""


def repository_prefix(root: Path) -> str:
    """The spec folder's path from the repository root (the nearest folder holding .git), for SARIF's %SRCROOT%."""
    for folder in (root, *root.parents):
        if (folder / ".git").exists():
            return Path(os.path.relpath(root, folder)).as_posix().removeprefix(".").lstrip("/")
    return Path(os.path.relpath(root, Path.cwd())).as_posix().removeprefix(".").lstrip("/")


def _shown(root: Path) -> Any:
    """A project-relative path as seen from the current folder, like ``rebase`` shows diagnostics."""
    def shown(file: str) -> str:
        return Path(os.path.relpath(root / file, Path.cwd())).as_posix()

    return shown


def _rebased(report: Any, root: Path) -> Any:
    """The report with paths from the current folder, hints too, as validate shows them."""
    moved = rebase([f.diagnostic for f in report.findings], root)
    findings = tuple(replace(f, file=d.file, hint=d.hint) for f, d in zip(report.findings, moved))
    return replace(report, findings=findings)


def _json(report: Any, diagnostics: list[Any], root: Path) -> str:
    import json

    body = report.to_dict()
    shown = _shown(root)
    for item in body["waivers"] + body["expired_waivers"] + body["policies"]:
        if item.get("file"):
            item["file"] = shown(item["file"])
    body["validation"] = {"ok": not any(d.is_error for d in diagnostics),
                          "diagnostics": [d.to_dict() for d in rebase(diagnostics, root)]}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


SECRETS_POLICY = "no-secrets-in-specs"


def _masking(report: Any, root: Path) -> Any:
    """``source_line``, but a line holding a secret is shown cut at the secret: CI logs are no place to copy it to."""
    cut = {(d.file, d.line): d.col for d in rebase([f.diagnostic for f in report.findings
                                                   if f.policy == SECRETS_POLICY], root)}

    def shown(file: str, line: int) -> str | None:
        text = source_line(file, line)
        col = cut.get((file, line))
        return text[:max(col - 1, 0)] + "<redacted>" if text is not None and col is not None else text

    return shown


def _text(report: Any, root: Path, color: bool | None) -> str:
    from compiler.policy.render import waived_lines
    from compiler.render.diagnostics import render_text

    style = styler(color)
    parts = [render_text(rebase(report.diagnostics(), root), _masking(report, root), style)]
    waived = waived_lines(report.to_dict(), style)
    if waived:
        parts.append(style(f"waived ({len(waived)}):", "bold") + "\n" + "\n".join(waived))
    return "\n".join(part for part in parts if part)


def render(report: Any, diagnostics: list[Any], root: Path, fmt: str, color: bool | None = False) -> str:
    """The report in ``fmt``: text, json, sarif or github."""
    if fmt == "sarif":
        from importlib.metadata import PackageNotFoundError, version

        from compiler.render.sarif import render_sarif

        try:
            tool = version("llmops-spec")
        except PackageNotFoundError:
            tool = "0"
        return render_sarif(report, repository_prefix(root), tool)
    if fmt == "json":
        return _json(_rebased(report, root), diagnostics, root)
    if fmt == "github":
        from compiler.render.diagnostics import render_github

        shown = rebase(sorted(diagnostics) + report.diagnostics(), root)
        return render_github(shown) + "\n" if shown else ""
    return _text(report, root, color)


def exit_code(report: Any, valid: bool, fail_on: str) -> int:
    """1 when the specs do not compile, or a finding at or above ``fail_on`` stands unwaived; else 0."""
    if not valid:
        return EXIT_FAILED
    standing = {f.severity.value for f in report.unwaived} | ({"warning"} if report.expired_waivers else set())
    return EXIT_FAILED if standing & set(FAIL_ON[fail_on]) else EXIT_OK


@command.command("check")
@path_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="sarif: for code scanning (upload-sarif); github: workflow annotations.")
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the report to FILE, not stdout.")
@click.option("--fail-on", type=click.Choice(list(FAIL_ON)), default="error", show_default=True,
              help="The least severity of an unwaived finding that makes the exit code 1.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Judge waiver expiry as of this day (default: today, UTC).")
@click.option("--no-cache", is_flag=True, help="Parse every file afresh.")
@click.option("--base", "base", metavar="REV",
              help="Also fail when llmops.lock or the apply log differ from git revision REV (a pull request's base).")
@click.pass_context
def check(ctx: click.Context, path: Path | None, fmt: str, out: Path | None, fail_on: str,
          today: dt.datetime | None, no_cache: bool, base: str | None) -> None:
    """Check every spec under PATH against the built-in pack and the project's Policies.

    Exit 0 when no unwaived finding reaches --fail-on (default: error), 1 when one does
    or the specs do not compile. A waived finding never fails the check; an expired
    waiver waives nothing and is reported as a warning.
    """
    short_lived_gc()
    from compiler import compile_project
    from compiler.policy import check_policies

    compilation = compile_project(path or default_path(), use_cache=not no_cache)
    root = compilation.project.root
    report = check_policies(compilation, today.date() if today else None)
    if base is not None:
        report = _with_state_findings(ctx, report, compilation, base)
    if fmt == "text" and compilation.diagnostics:
        print_diagnostics(rebase(compilation.diagnostics, root), "text", summary=False)
        if not compilation.ok:
            click.echo(styler()("the specs have errors: policies were checked on the valid resources only", "error"),
                       err=True)
    text = render(report, compilation.diagnostics, root, fmt, color=None if out is None else False)
    if out is not None:
        from runners.files import write_atomic

        write_atomic(out, text)
        click.echo(f"Wrote the {fmt} report to {out}.", err=True)
    elif text:
        click.echo(text, nl=not text.endswith("\n"))
    if fmt == "text" or out is not None:
        click.echo(f"policy: {report.summary()}", err=True)
    ctx.exit(exit_code(report, compilation.ok, fail_on))


def _with_state_findings(ctx: click.Context, report: Any, compilation: Any, base: str) -> Any:
    """The report plus the state-file findings against ``base`` (compiler/policy/state_diff.py)."""
    from compiler.audit.git import GitError
    from compiler.policy.state_diff import lock_changes, log_changes, read_state, remote_changes, state_at, state_findings
    from compiler.policy.waivers import load_waivers

    root = compilation.project.root
    try:
        (lock_then, log_then, remote_then), (lock_now, log_now, remote_now) = state_at(root, base), read_state(root)
    except GitError as exc:
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        ctx.exit(EXIT_FAILED)
    changes = lock_changes(lock_then, lock_now) + log_changes(log_then, log_now) + remote_changes(remote_then, remote_now)
    found = state_findings(changes, load_waivers(compilation.project), report.today, base)
    return replace(report, findings=(*report.findings, *found))


def plan_section(path: Path, specs_digest: str, fmt: str, use_cache: bool = True, compilation: Any = None) -> str:
    """The policy verdict as ``plan`` shows it after the plan (text) or in the PR comment (markdown).

    Judged on the plan's own compilation when it made one (a plan-cache miss), else read from
    the cached verdict when the specs, the day and the code are unchanged: a plan served from
    the plan cache still compiles nothing, and no plan compiles twice.
    """
    from compiler.discover import project_root
    from compiler.policy.cached import policy_verdict
    from compiler.policy.render import render_policy_markdown, render_policy_section

    body = policy_verdict(path, specs_digest, use_cache=use_cache, compilation=compilation)
    shown = _shown(project_root(path))
    if fmt == "markdown":
        return render_policy_markdown(body, shown)
    return render_policy_section(body, styler(), shown)
