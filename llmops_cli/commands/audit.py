"""llmops audit: the apply log's integrity, the spec history, lineage at a moment, a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from llmops_cli.common import default_path, path_argument, short_lived_gc, styler

format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


@click.group("audit")
def command() -> None:
    """Answer audit questions from the repository alone: what changed, what was applied, what served."""


def _open(path: Path | None) -> tuple[Path, Any]:
    """The project root and its repository; a clear message (never a traceback) when there is none."""
    from compiler.audit.git import GitError, open_repo
    from compiler.discover import project_root

    folder = path or default_path()
    if not folder.exists():
        raise click.ClickException(f"{folder} does not exist\n  hint: pass the folder that holds your specs")
    root = project_root(folder)
    try:
        return root, open_repo(root)
    except GitError as exc:
        raise click.ClickException(f"{exc.message}\n  hint: {exc.hint}") from None


def _echo_json(value: Any) -> None:
    import json

    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _records(root: Path) -> list[dict[str, Any]]:
    from compiler.audit.applylog import read_log_bytes, records

    return records(read_log_bytes(root))


@command.command("verify")
@path_argument
@format_option
@click.pass_context
def verify(ctx: click.Context, path: Path | None, fmt: str) -> None:
    """Check the apply log's hash chain and every committed version of it; exit 1 when it was tampered with."""
    from compiler.audit.applylog import APPLY_LOG_NAME
    from compiler.audit.render import render_verify
    from compiler.audit.verify import verify_apply_log

    from compiler.audit.git import GitError, open_repo
    from compiler.discover import project_root

    root = project_root(path or default_path())
    try:
        repo = open_repo(root)
    except GitError:  # outside git the chain is still checked; only the committed versions are missing
        repo = None
    report = verify_apply_log(root, repo)
    if fmt == "json":
        _echo_json(report.to_dict())
    else:
        click.echo(render_verify(report, APPLY_LOG_NAME, styler()))
    ctx.exit(0 if report.ok else 1)


@command.command("log")
@path_argument
@click.option("--since", help="Only commits after this date (any date git understands).")
@click.option("--until", help="Only commits before this date.")
@click.option("--kind", type=click.Choice(["Dataset", "Prompt", "Model", "EvalGate", "Deployment", "Policy", "Waiver"]),
              help="Only changes to resources of this kind.")
@click.option("--name", help="Only changes to resources of this name.")
@click.option("--no-policy", is_flag=True, help="Skip policy verdicts (they compile each commit's specs once, then are cached).")
@format_option
def log_command(path: Path | None, since: str | None, until: str | None, kind: str | None, name: str | None,
                no_policy: bool, fmt: str) -> None:
    """The history of the specs: per commit, resources added, removed or changed (field by field), policy
    verdicts at that commit, and the applies that followed."""
    from compiler.audit.log import audit_log
    from compiler.audit.render import render_log

    short_lived_gc()
    root, repo = _open(path)
    entries = audit_log(repo, root, since, until, kind, name, policies=not no_policy, cache_root=root,
                        policy_reports=fmt == "json")  # text prints each verdict's summary, not its findings
    if fmt == "json":
        _echo_json([e.to_dict() for e in entries])
    else:
        click.echo(render_log(entries, styler()))


@command.command("lineage")
@click.argument("deployment")
@path_argument
@click.option("--at", "at", metavar="TIME|COMMIT", help="A time (2026-11-25T10:00:00Z; a date means its end) or a commit "
                                                          "(what served once it was applied). Default: now.")
@format_option
@click.pass_context
def lineage_command(ctx: click.Context, deployment: str, path: Path | None, at: str | None, fmt: str) -> None:
    """What served DEPLOYMENT (Deployment/name) then, and everything it was made from."""
    from compiler.audit.lineage import lineage
    from compiler.audit.moments import resolve_moment
    from compiler.audit.render import render_lineage
    from compiler.audit.snapshot import BlobCache

    if not deployment.startswith("Deployment/"):
        deployment = f"Deployment/{deployment}"
    root, repo = _open(path)
    records = _records(root)
    try:
        moment = resolve_moment(repo, at, records)
    except ValueError as exc:
        raise click.ClickException(f"{exc}\n  hint: pass an ISO time or a commit sha, branch or tag") from None
    result = lineage(repo, root, deployment, moment, records, BlobCache.load(root))
    if fmt == "json":
        _echo_json(result.to_dict())
    else:
        click.echo(render_lineage(result, styler()))
    ctx.exit(0 if result.serving else 1)


@command.command("report")
@path_argument
@click.option("-o", "--out", type=click.Path(path_type=Path, file_okay=False), default=Path("audit-report"),
              show_default=True, help="Folder for report.md and report.html.")
@format_option
def report_command(path: Path | None, out: Path, fmt: str) -> None:
    """A self-contained Markdown and HTML report: timeline, lineages, policy findings, waivers, gate metrics."""
    from compiler.audit.report import build_report, render_html, render_markdown

    root, repo = _open(path)
    report = build_report(repo, root)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.html"]
    written[0].write_text(render_markdown(report), encoding="utf-8")
    written[1].write_text(render_html(report), encoding="utf-8")
    if fmt == "json":
        _echo_json({"files": [str(p) for p in written], **report.summary()})
    else:
        click.echo("\n".join(f"wrote {p}" for p in written))
