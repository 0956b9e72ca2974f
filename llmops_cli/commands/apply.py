"""llmops apply [PLAN.json | PATH]: execute exactly a saved plan, or plan, show, ask, and execute.

Exit codes: 0 applied (or nothing to do), 1 an error (a node failed, a stale plan, the
state locked by another apply), 3 a gate failed (its dependents were not run), 4 a policy
error stands (nothing was run), 130 interrupted (finished nodes are kept; rerun resumes).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from llmops_cli.common import default_path, drift_check, print_diagnostics, rebase, styler


def _fail(ctx: click.Context, message: str, hint: str | None = None, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    ctx.exit(code)


def _load_saved(ctx: click.Context, plan_file: Path) -> dict[str, Any]:
    try:
        saved = json.loads(plan_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(ctx, f"cannot read the plan {plan_file}: {exc}", "save one with: llmops plan PATH -o plan.json")
    if not isinstance(saved, dict) or "changes" not in saved:
        _fail(ctx, f"{plan_file} is not an llmops plan", "save one with: llmops plan PATH -o plan.json")
    return saved


@click.command("apply")
@click.argument("target", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--project", "project_path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The project a saved plan belongs to (default: the current folder).")
@click.option("--address", envvar="RAY_ADDRESS", help="Run on this Ray cluster (default: the project's local cluster).")
@click.option("--num-cpus", type=int, help="CPUs of the local cluster when apply starts it (default: all).")
@click.option("--serve-host", envvar="LLMOPS_SERVE_HOST", callback=lambda ctx, param, value: _serve_host(value),
              help="The address Serve's HTTP proxies bind (default: 127.0.0.1; 0.0.0.0 opens them to the network).")
@click.option("--serve-port", envvar="LLMOPS_SERVE_PORT", type=click.IntRange(1, 65535),
              help="Serve's HTTP port (default: a free port for the local cluster, 8000 with --address).")
@click.option("--pull/--no-pull", default=None,
              help="Also bring each landed artifact into this workspace (default: with the local cluster only; on a "
                   "cluster of --address, artifacts are checked on the DVC remote and `llmops pull` brings them).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (CI).")
@click.pass_context
def command(ctx: click.Context, target: Path | None, project_path: Path | None, address: str | None,
            num_cpus: int | None, serve_host: str | None, serve_port: int | None, pull: bool | None, yes: bool) -> None:
    """Apply a saved plan (plan.json) or the specs under PATH, on Ray."""
    from compiler import compile_project
    from compiler.fingerprint import fingerprint_graph
    from compiler.plan import plan_changes
    from compiler.render.plan import render_plan_text

    saved = _load_saved(ctx, target) if target is not None and target.is_file() else None
    path = project_path or (default_path() if saved is not None or target is None else target)
    compilation = compile_project(path)
    root = compilation.project.root
    if not compilation.ok:
        print_diagnostics(rebase(compilation.diagnostics, root), "text")
        ctx.exit(1)
    policy = _check_policies(ctx, compilation)
    lock = _read_lock(ctx, root)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    if saved is None:
        drift = drift_check(root, address=address)(lock)
        plan = plan_changes(compilation.graph, prints, lock, compilation.project.specs_digest, drift)
        click.echo(render_plan_text(plan, False, styler()))
        if not plan.has_changes:
            ctx.exit(0)
        if not yes and not click.confirm("\nApply these changes?", default=False):
            click.echo("Nothing applied.")
            ctx.exit(0)
        saved = plan.to_dict()
    freshness = _fresh(ctx, saved, compilation, lock, prints)
    if not any(c["action"] != "no-op" and c["node"] not in freshness.done for c in saved["changes"]):
        click.echo("No changes. Nothing to apply.")
        ctx.exit(0)
    pull = not address if pull is None else pull
    ctx.exit(_apply(ctx, compilation, saved, prints, freshness, address, num_cpus, policy, (serve_host, serve_port), pull))


def _serve_host(value: str | None) -> str | None:
    from runners.cluster import serve_host_problem

    problem = serve_host_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem, param_hint="'--serve-host' / LLMOPS_SERVE_HOST")
    return value


def _check_policies(ctx: click.Context, compilation: Any) -> dict[str, Any]:
    """Refuse while an error-severity policy finding stands; what the apply log keeps of the verdicts."""
    from compiler.policy import check_policies

    report = check_policies(compilation)
    if report.errors:
        print_diagnostics(rebase([f.diagnostic for f in report.errors], compilation.project.root), "text")
        _fail(ctx, f"{len(report.errors)} policy error(s) stand; nothing was applied",
              "fix the specs, or waive a finding with a Waiver that names its owner and expiry", code=4)
    body = report.to_dict()
    waivers = sorted({f"Waiver/{f.waived_by}" for f in report.findings if f.waived_by})  # as references, like the docs
    return {"summary": {k: v for k, v in body.items() if not isinstance(v, list)}, "waivers": waivers}


def _apply(ctx: click.Context, compilation: Any, saved: dict[str, Any], prints: dict[str, Any], freshness: Any,
           address: str | None, num_cpus: int | None, policy: dict[str, Any],
           serve_at: tuple[str | None, int | None] = (None, None), pull: bool = True) -> int:
    from compiler.plan import Plan
    from runners.apply import Applier
    from runners.apply_log import ApplyLogBroken
    from runners.cluster import connect, existing, start_local, with_serve
    from runners.dvc_store import Store, remote_is_local
    from runners.state import StateLocked, state_guard
    from runners.step import NodeFailed

    from llmops_cli.progress import Progress

    root = compilation.project.root
    if not (root / ".dvc").is_dir():
        _fail(ctx, f"{root} is not initialized for apply", f"run: llmops init {os.path.relpath(root)}")
    from llmops_cli.errors import RUN_EXTRA, require_run_extra

    missing = require_run_extra("apply", ("ray", "dvc", "torch"))  # before a cluster starts for nothing
    if missing:
        _fail(ctx, missing, RUN_EXTRA)
    if freshness.done:
        click.echo(freshness.reason)
    store = Store(root)
    progress = Progress(saved)
    try:
        with state_guard(root):
            freshness = _fresh(ctx, saved, compilation, _read_lock(ctx, root), prints)  # again: an apply may have ended since
            if not remote_is_local(root):  # credentials, endpoint and bucket checked before any node runs
                store.check_remote()
            cluster = existing(address) if address else start_local(root, num_cpus, serve_port=serve_at[1])
            cluster = with_serve(cluster, *serve_at)
            progress.note(f"Ray: {'cluster ' + address if address else 'local cluster ' + cluster.address}")
            cluster = connect(cluster)
            applier = Applier(compilation, Plan.from_dict(saved), prints, store, cluster, freshness.done, progress.event,
                              pull=pull)
            with progress:
                report = applier.run()
            _log(root, saved, applier, report, policy)
    except StateLocked as exc:
        _fail(ctx, f"another apply is running: {exc}", "wait for it to finish; applies never overlap")
    except ApplyLogBroken as exc:
        _fail(ctx, f"{exc}; nothing was applied", exc.hint)
    except NodeFailed as exc:
        _fail(ctx, exc.message, exc.hint)
    finally:
        store.close()
    progress.summary(report)
    if not pull and any(item.status == "applied" and item.step != "deploy" for item in report.nodes):
        click.echo("Artifacts were checked on the DVC remote, not brought here: `llmops pull` restores them "
                   "(or apply with --pull).")
    if report.interrupted:
        # Everything is written (lock, apply log, summary). Leave now: Ray's core worker can abort the process
        # in its teardown (a RAY_CHECK, exit 1) when the reply of a task cancelled by force races the cancel,
        # which would turn Ctrl-C's 130 into an error.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(report.exit_code)
    return report.exit_code


def _read_lock(ctx: click.Context, root: Path) -> Any:
    """llmops.lock, every entry vouched for by the apply log, or its located problems printed and exit 1."""
    from compiler.state_trust import read_trusted_lock

    lock, problems = read_trusted_lock(root)
    if problems:
        print_diagnostics(rebase(problems, root), "text")
        ctx.exit(1)
    return lock


def _fresh(ctx: click.Context, saved: dict[str, Any], compilation: Any, lock: Any, prints: dict[str, Any]) -> Any:
    """The plan's freshness against ``lock`` and the fingerprints recomputed now; a stale plan is refused (exit 1)."""
    from compiler.plan_freshness import check_fresh

    freshness = check_fresh(saved, compilation.project.specs_digest, lock, {nid: fp.value for nid, fp in prints.items()})
    if not freshness.fresh:
        _fail(ctx, f"refusing a stale plan: {freshness.reason}", freshness.hint)
    return freshness


def _log(root: Path, saved: dict[str, Any], applier: Any, report: Any, policy: dict[str, Any]) -> None:
    """Close the run in the apply log: its result, gates, verdicts, and every node it names as the lock now holds it.

    Each lock write was already vouched for by a landing record (runners/apply.py); this
    record carries the run's result for the audit commands.
    """
    nodes = {}
    for item in report.nodes:
        entry = applier.lock.nodes.get(item.node)
        nodes[item.node] = {"fingerprint": entry.fingerprint if entry else None, "status": item.status,
                            "action": next((c["action"] for c in saved["changes"] if c["node"] == item.node), None),
                            "outputs": {k: v for k, v in (entry.outputs if entry else {}).items() if isinstance(v, str)},
                            "metrics": entry.metrics if entry else {}, "entry": entry.digest if entry else None}
        if item.error:  # a failed, blocked or gate-failed node says why (absent otherwise: older readers ignore it)
            nodes[item.node].update({"error": item.error, **({"hint": item.hint} if item.hint else {})})
        if item.transfer:  # what moving its artifacts cost: seconds and bytes fetched, pushed and landed
            nodes[item.node]["transfer"] = {k: round(v, 4) for k, v in sorted(item.transfer.items())}
    gates = {}
    for item in report.nodes:
        if item.step == "gate":
            entry = applier.lock.nodes.get(item.node)
            passed = bool(entry and entry.metrics.get("passed")) and item.status in ("applied", "already-applied")
            gates[item.node.rsplit(":", 1)[0]] = {"passed": passed, "verdict": item.summary or item.error}
    recorder = applier.recorder
    record = {"kind": "apply", "run": recorder.run_id, "who": recorder.who, "when": _now(), "commit": recorder.commit,
              "plan_hash": recorder.plan_hash, "nodes": nodes, "gates": gates, "policy": policy.get("summary", {}),
              "waivers": policy.get("waivers", []), "result": report.result}
    try:
        recorder.log.append(record)
    except OSError as exc:
        click.echo(f"warning: the end of this apply was not logged: {exc}", err=True)
        click.echo("  hint: every node it landed is logged; free disk space before the next apply", err=True)


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
