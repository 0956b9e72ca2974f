#!/usr/bin/env python
"""Benchmark: apply on a 3-node Ray cluster whose workers do not share the driver's disk.

The cluster is the tests' (tests/nsd_cluster.py: a head with 0 CPUs and two workers of 2 CPUs,
each in its own mount namespace with an empty tmpfs over the projects; the DVC remote is a
folder outside, standing in for object storage). It needs root (mount namespaces). In one run:

(a) moving the artifacts. The example project (specs/) applied on that cluster, and on one node
    (``llmops apply specs --yes``: the embedded local cluster). What moving the artifacts cost on
    the cluster is the sum, over the nodes of the apply log's closing "apply" record, of
    ``transfer.fetch_s + push_s + land_s``; it is set against a raw ``dvc push`` plus a fresh
    ``dvc pull`` of the same artifact folders (a git + DVC repository of their copies, a fresh
    remote). Target: at most 1.2x. On a cluster of ``--address``, apply lands a node by checking
    its objects on the remote (no file comes to the driver); the ``llmops pull`` that brings them
    into the driver's workspace afterwards is timed and shown beside it, with that ratio too.
(b) 200 trivial nodes (Prompts: bench/apply_bench.py's project) applied on that cluster
    (``llmops apply specs --yes --address HEAD``), against ``dvc repro`` of the equivalent
    dvc.yaml (one stage per node). Target: apply at least 10x faster.

It prints both sides, the ratios and the targets as met / NOT MET; it asserts nothing.

    sudo .venv/bin/python bench/cluster_bench.py                     # the example as it is, and N = 200
    .venv/bin/python bench/cluster_bench.py --quick                  # N = 20, two epochs, no deployment, no one-node run
    .venv/bin/python bench/cluster_bench.py --json /tmp/cluster-bench.json

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))  # the cluster harness and the example's helpers
from apply_bench import dvc_repro, dvc_repro_project, llmops_project, prompt_body  # noqa: E402
from plan_bench import REPO, BenchError, _fmt, _ratio, cli_env, dvc_bin, dvc_env, llmops_cmd, timed  # noqa: E402

sys.path.insert(0, str(REPO))
TARGET_TRANSFER_FACTOR = 1.2
TARGET_DVC_SPEEDUP = 10.0
TRANSFER_KEYS = ("fetch_s", "push_s", "land_s")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------------
# (a) the example: the cluster, one node, raw dvc push + pull
# --------------------------------------------------------------------------------------------------------------------


def example_project(repo: Path, remote: Path, epochs: int | None, deploy: bool) -> Path:
    """A git repository holding a copy of the example (optionally fewer epochs, or no deployment), init-ed."""
    import nsd_checks

    specs = nsd_checks.example_repo(repo, str(remote))
    model = specs / "models" / "ticket-classifier.yaml"
    if epochs is not None:
        text = model.read_text()
        model.write_text(text.replace("epochs: 4,", f"epochs: {epochs},"))
    if not deploy:  # the Deployment, and the gate's baseline that names it
        shutil.rmtree(specs / "deployments")
        gate = specs / "gates" / "ticket-quality.yaml"
        gate.write_text("".join(line for line in gate.read_text().splitlines(True) if "baseline:" not in line))
    nsd_checks.commit(repo, "bench variant")
    return specs


def apply_record(specs: Path) -> dict[str, Any]:
    """The apply log's closing "apply" record of the last apply."""
    for line in reversed((specs / "llmops.applies.jsonl").read_text().splitlines()):
        record = json.loads(line)
        record = record.get("record", record) if isinstance(record, dict) else {}
        if record.get("kind") == "apply":
            return record
    raise BenchError(f"no apply record in {specs / 'llmops.applies.jsonl'}")


def transfer_totals(record: dict[str, Any]) -> dict[str, float]:
    """Seconds and bytes spent moving artifacts, summed over the record's nodes; "nodes" counts those reporting."""
    totals = {key: 0.0 for key in (*TRANSFER_KEYS, "fetched_bytes", "pushed_bytes")}
    reporting = 0
    for entry in record.get("nodes", {}).values():
        transfer = entry.get("transfer") or {}
        reporting += bool(transfer)
        for key in totals:
            totals[key] += float(transfer.get(key, 0.0))
    totals["seconds"] = sum(totals[key] for key in TRANSFER_KEYS)
    totals["nodes"] = reporting
    return totals


def run_apply(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds of one apply; a gate that fails (exit 3, as a fine-tune of too few epochs may) still counts: every
    node before it ran and moved its artifacts."""
    seconds, proc = timed(argv, cwd=cwd, env=env, ok=(0, 3), timeout=1800)
    if b"Apply complete" not in proc.stdout and b"stopped by a gate" not in proc.stdout:
        raise BenchError(f"apply did not complete:\n{proc.stdout.decode()[-3000:]}")
    return seconds


def raw_push_pull(folders: dict[str, Path], base: Path) -> tuple[float, float, int]:
    """``dvc push`` of copies of ``folders`` (added first, untimed) to a fresh remote, then ``dvc pull`` into an
    empty workspace and cache: (push seconds, pull seconds, bytes)."""
    root = base / "raw"
    root.mkdir(parents=True)
    env = dvc_env(root)
    dvc = str(dvc_bin())
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    for args in (["init", "-q"], ["remote", "add", "-d", "bench", str(base / "raw-remote")],
                 ["config", "core.site_cache_dir", str(root / ".dvc" / "site-cache")], ["config", "core.analytics", "false"]):
        subprocess.run([dvc, *args], cwd=root, check=True, env=env, capture_output=True)
    names = []
    size = 0
    for i, (name, folder) in enumerate(sorted(folders.items())):
        target = root / "art" / f"{i:02}-{Path(name).name}"
        shutil.copytree(folder, target)
        size += sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        names.append(str(target.relative_to(root)))
    subprocess.run([dvc, "add", "-q", *names], cwd=root, check=True, env=env, capture_output=True)
    push, _ = timed([dvc, "push", "-q"], cwd=root, env=env)
    shutil.rmtree(root / ".dvc" / "cache")
    for name in names:
        shutil.rmtree(root / name)
    pull, _ = timed([dvc, "pull", "-q"], cwd=root, env=env)
    return push, pull, size


def bench_example(args: argparse.Namespace, cluster: Any, work: Path, outside: Path) -> dict[str, Any]:
    import nsd_checks

    specs = example_project(work / "example", outside / "remote-cluster", args.epochs, args.deploy)
    log("(a) the example on the 3-node cluster ...")
    cluster_s = run_apply([*llmops_cmd(), "apply", "specs", "--yes", "--address", cluster.address], specs.parent,
                          {**cli_env(), **cluster.env()})
    moved = transfer_totals(apply_record(specs))
    log("(a) llmops pull of what the cluster apply checked on the remote (into the driver's workspace) ...")
    workspace_s, _ = timed([*llmops_cmd(), "pull", "specs"], cwd=specs.parent, env={**cli_env(), **cluster.env()})
    one_s, one_moved = None, None
    if not args.quick:  # the one-node run is for the reader's comparison; the tests' smoke run skips it
        one = example_project(outside / "one-node", outside / "remote-one", args.epochs, args.deploy)
        log("(a) the example on one node (the embedded local cluster) ...")
        local_env = {k: v for k, v in cli_env().items() if not k.startswith("RAY_")}
        try:
            one_s = run_apply([*llmops_cmd(), "apply", "specs", "--yes"], one.parent, local_env)
            one_moved = transfer_totals(apply_record(one))
        finally:
            subprocess.run([*llmops_cmd(), "down", "specs"], cwd=one.parent, env=local_env, capture_output=True,
                           timeout=300)
    log("(a) raw dvc push + dvc pull of the same artifacts ...")
    folders = {name: specs / name for name in nsd_checks.lock_outputs(specs)}
    push_s, pull_s, size = raw_push_pull(folders, outside / "raw")
    return {"cluster_apply_s": cluster_s, "one_node_apply_s": one_s, "cluster_transfer": moved, "workspace_pull_s": workspace_s,
            "one_node_transfer": one_moved, "raw_push_s": push_s, "raw_pull_s": pull_s, "artifact_bytes": size,
            "artifacts": len(folders)}


# --------------------------------------------------------------------------------------------------------------------
# (b) N trivial nodes against dvc repro
# --------------------------------------------------------------------------------------------------------------------


def bench_trivial(args: argparse.Namespace, cluster: Any, specs: Path, outside: Path) -> dict[str, Any]:
    """``specs``: apply_bench's project of N prompts, its repository hidden on every node, its remote not."""
    n = args.nodes
    log(f"(b) {n} trivial nodes on the 3-node cluster ...")
    seconds, proc = timed([*llmops_cmd(), "apply", "specs", "--yes", "--address", cluster.address], cwd=specs.parent,
                          env={**cli_env(), **cluster.env()}, timeout=1800)
    if f"{n} applied" not in proc.stdout.decode():
        raise BenchError(f"llmops apply did not report {n} applied:\n{proc.stdout.decode()[-3000:]}")
    log(f"(b) dvc repro of {n} stages ...")
    repro, push = dvc_repro(dvc_repro_project(outside / "dvc", [prompt_body(i) for i in range(n)]), n)
    return {"n": n, "apply_s": seconds, "dvc_repro_s": repro, "dvc_push_s": push}


# --------------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> list[str]:
    a, b = results["example"], results["trivial"]
    moved, raw = a["cluster_transfer"], a["raw_push_s"] + a["raw_pull_s"]
    lines = [f"(a) the example ({a['artifacts']} artifacts, {a['artifact_bytes'] / 1e6:.1f} MB; {results['variant']})",
             f"    apply, 3-node cluster without a shared disk  {_fmt(a['cluster_apply_s'], 1)} s",
             f"    apply, one node (embedded)                    {_fmt(a['one_node_apply_s'], 1)} s",
             f"    moving artifacts on the cluster ({int(moved['nodes'])} nodes report): fetch {_fmt(moved['fetch_s'], 2)} s + "
             f"push {_fmt(moved['push_s'], 2)} s + land {_fmt(moved['land_s'], 2)} s = {_fmt(moved['seconds'], 2)} s "
             f"({moved['fetched_bytes'] / 1e6:.1f} MB fetched, {moved['pushed_bytes'] / 1e6:.1f} MB pushed)",
             f"    moving artifacts on one node                  "
             f"{_fmt((a['one_node_transfer'] or {}).get('seconds'), 2)} s",
             f"    raw dvc push {_fmt(a['raw_push_s'], 2)} s + dvc pull {_fmt(a['raw_pull_s'], 2)} s = {_fmt(raw, 2)} s",
             f"    ratio moving / raw push+pull                  {_fmt(_ratio(moved['seconds'], raw), 2)}x",
             f"    then llmops pull into the driver's workspace  {_fmt(a['workspace_pull_s'], 2)} s (when wanted: apply checks "
             f"artifacts on the remote; --pull lands them here)",
             f"    ratio moving + that pull / raw push+pull      "
             f"{_fmt(_ratio(moved['seconds'] + a['workspace_pull_s'], raw), 2)}x",
             f"(b) {b['n']} trivial nodes",
             f"    llmops apply on the 3-node cluster            {_fmt(b['apply_s'], 2)} s",
             f"    dvc repro of the equivalent dvc.yaml          {_fmt(b['dvc_repro_s'], 2)} s (then dvc push {_fmt(b['dvc_push_s'], 2)} s)",
             f"    ratio dvc repro / apply                       {_fmt(_ratio(b['dvc_repro_s'], b['apply_s']), 1)}x",
             "Targets:"]
    for target in judge(results):
        lines.append(f"  {target['verdict']:8} {target['what']}: {target['value']}")
    return lines


def judge(results: dict[str, Any]) -> list[dict[str, str]]:
    a, b = results["example"], results["trivial"]
    moving = _ratio(a["cluster_transfer"]["seconds"], a["raw_push_s"] + a["raw_pull_s"])
    speedup = _ratio(b["dvc_repro_s"], b["apply_s"])
    return [
        {"what": f"moving the example's artifacts <= {TARGET_TRANSFER_FACTOR}x raw dvc push + pull",
         "value": f"{_fmt(moving, 2)}x",
         "verdict": "met" if moving is not None and a["cluster_transfer"]["nodes"] and moving <= TARGET_TRANSFER_FACTOR
         else "NOT MET"},
        {"what": f"apply of {b['n']} trivial nodes on the cluster >= {TARGET_DVC_SPEEDUP:.0f}x faster than dvc repro",
         "value": f"{_fmt(speedup, 1)}x",
         "verdict": "met" if speedup is not None and speedup >= TARGET_DVC_SPEEDUP else "NOT MET"},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200, help="trivial nodes for (b)")
    parser.add_argument("--epochs", type=int, default=None, help="the example's training epochs (default: its own)")
    parser.add_argument("--without-deploy", dest="deploy", action="store_false", help="drop the example's Deployment")
    parser.add_argument("--quick", action="store_true",
                        help="N = 20, two epochs, no deployment, no one-node run (a minute, for tests)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--workdir", type=Path, help="where to make the projects (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.epochs, args.deploy = min(args.nodes, 20), 2, False
    import nsd_cluster

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    work, outside = workdir / "work", workdir / "outside"  # work: hidden on every node; outside: remotes, baselines
    work.mkdir(parents=True)
    outside.mkdir(parents=True)
    token = outside / "ray-token"
    token.write_text(secrets.token_hex(16))
    os.environ.setdefault("LLMOPS_CACHE_DIR", str(outside / "llmops-cache"))
    trivial = llmops_project(outside / "trivial", args.nodes)  # made first: its repository is hidden, its remote not
    started = time.monotonic()
    cluster = nsd_cluster.start([work, trivial.parent], token)
    try:
        log(f"cluster up in {time.monotonic() - started:.0f} s")
        variant = ("the example as committed" if args.epochs is None and args.deploy else
                   f"epochs {args.epochs or 'as committed'}, {'with' if args.deploy else 'without'} its deployment")
        results = {"variant": variant, "example": bench_example(args, cluster, work, outside),
                   "trivial": bench_trivial(args, cluster, trivial, outside)}
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(report(results)))
    if args.json:
        args.json.write_text(json.dumps({**results, "targets": judge(results)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
