#!/usr/bin/env python
"""Benchmark: ``llmops apply`` of N trivial nodes against raw Ray tasks and against ``dvc repro``.

The benchmark reports numbers; it asserts nothing. It starts one local Ray cluster
(``runners.cluster.start_local``), joins it as a driver, and for every N in --sizes, on
fresh projects each time (a fresh DVC remote too, so every push really pushes):

1. raw Ray: N ``@ray.remote`` tasks (no CPUs, like a Prompt node) that each write the
   Prompt node's JSON file; timed in this process and as a fresh ``python`` script
   (``ray.init`` included, the counterpart of the CLI); and in this process as
   ``--num-cpus`` tasks writing N/num-cpus files each (``raw chunked``: Ray's advice for
   tiny tasks, and what apply does with bookkeeping nodes);
2. raw Ray + DVC: the same tasks, and each output folder versioned and pushed as it lands
   (DVC's ``Repo.add`` + ``Repo.push`` per folder); and the same with one real
   ``Repo.add`` + ``Repo.push`` of all folders at the end (what ``dvc add`` + ``dvc push`` do);
3. apply in-process: compile, fingerprint and plan (timed apart), then ``Applier.run``
   over the plan under the state lock: DVC versioning and a lock write per batch of nodes
   that land together;
4. apply as a user runs it: ``llmops apply specs --yes --address ADDR`` (a subprocess);
5. at --dvc-sizes (200): ``dvc repro`` of a dvc.yaml of N stages, each ``echo``-ing the
   same JSON into its own output folder (cached by DVC), in a git + DVC repository, and
   ``dvc push`` afterwards;

then prints the wall times, the ratios apply/raw, apply/raw+dvc and dvc-repro/apply, the
marginal ms per node between consecutive sizes, and the targets of the issue as met / NOT
MET. ``--profile N`` adds a cProfile of the in-process apply at N with a breakdown by cause.

    .venv/bin/python bench/apply_bench.py                         # N = 10, 100, 200, 500
    .venv/bin/python bench/apply_bench.py --sizes 10,100 --dvc-sizes none --repeat 3
    .venv/bin/python bench/apply_bench.py --profile 200 --json /tmp/apply-bench.json

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_bench import REPO, BenchError, Samples, _fmt, _ratio, cli_env, dvc_bin, dvc_env, llmops_cmd, timed

sys.path.insert(0, str(REPO))
TARGET_RAW_FACTOR = 1.3
TARGET_DVC_SPEEDUP = 10.0
TARGET_DVC_AT = 200
LINEAR_TOLERANCE = 1.5  # marginal ms per node between the largest sizes may be at most this times that between the smallest

# --------------------------------------------------------------------------------------------------------------------
# The projects
# --------------------------------------------------------------------------------------------------------------------


def prompt_yaml(i: int) -> str:
    return (f"apiVersion: llmops/v1\nkind: Prompt\nmetadata: {{name: p{i:04}}}\nspec:\n"
            f"  template: \"Hello {{{{ who }}}} from p{i:04}\"\n  variables:\n    who: {{value: world}}\n")


def prompt_body(i: int) -> str:
    """The exact bytes the prompt step writes for ``p{i}`` (runners/steps/prompt.py)."""
    from llmops_spec.prompt import PromptSpec

    spec = PromptSpec.model_validate({"template": f"Hello {{{{ who }}}} from p{i:04}", "variables": {"who": {"value": "world"}}})
    body = spec.model_dump(mode="json", by_alias=True, exclude={"description"})
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=dvc_env(root))


def _dvc_state_inside(root: Path) -> None:
    """Keep DVC's state database in the project (removed with it), not under /var/tmp."""
    from dvc.repo import Repo

    repo = Repo(str(root))
    try:
        with repo.config.edit() as conf:
            conf["core"]["site_cache_dir"] = str(root / ".dvc" / "site-cache")
            conf["core"]["analytics"] = False
    finally:
        repo.close()


def llmops_project(base: Path, n: int) -> Path:
    """A git repository whose specs/ holds N Prompts, initialized for apply with its own fresh DVC remote."""
    from runners.dvc_store import init_project

    repo = base / "repo"
    specs = repo / "specs"
    specs.mkdir(parents=True)
    for i in range(n):
        (specs / f"p{i:04}.yaml").write_text(prompt_yaml(i))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "bench@example.com")
    _git(repo, "config", "user.name", "bench")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "specs")
    with contextlib.redirect_stdout(io.StringIO()):  # dvc's "Initialized DVC repository" banner
        init_project(specs, str(base / "remote"))
    _dvc_state_inside(specs)
    return specs


def dvc_output_project(base: Path) -> Path:
    """A git + DVC repository with a fresh remote, where the raw-Ray baselines version their outputs."""
    from runners.dvc_store import init_project

    root = base / "raw"
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    with contextlib.redirect_stdout(io.StringIO()):
        init_project(root, str(base / "raw-remote"))
    _dvc_state_inside(root)
    return root


def dvc_repro_project(base: Path, bodies: list[str]) -> Path:
    """git + dvc init, and a dvc.yaml of N stages each writing one JSON file into its own (cached) output folder."""
    root = base / "dvc"
    root.mkdir(parents=True)
    env = dvc_env(root)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    subprocess.run([str(dvc_bin()), "init", "-q"], cwd=root, check=True, env=env)
    for args in (["remote", "add", "-d", "bench", str(base / "dvc-remote")],
                 ["config", "core.site_cache_dir", str(root / ".dvc" / "site-cache")], ["config", "core.analytics", "false"]):
        subprocess.run([str(dvc_bin()), *args], cwd=root, check=True, env=env, capture_output=True)
    stages = {}
    for i, body in enumerate(bodies):
        compact = json.dumps(json.loads(body), sort_keys=True)
        stages[f"p{i:04}"] = {"cmd": f"mkdir -p out/p{i:04} && echo '{compact}' > out/p{i:04}/prompt.json",
                              "outs": [f"out/p{i:04}"]}
    (root / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=1))  # JSON is YAML: no quoting to get wrong
    return root


# --------------------------------------------------------------------------------------------------------------------
# What is timed
# --------------------------------------------------------------------------------------------------------------------


def write_output(path: str, body: str) -> str:
    """The raw Ray task: write one JSON file; returns its folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    return str(target.parent)


def write_outputs(items: list[tuple[str, str]]) -> list[str]:
    """The raw Ray task that writes several files, one after another (``raw ray chunked``)."""
    return [write_output(path, body) for path, body in items]


def raw_ray(out: Path, bodies: list[str], store: Any = None, batched: bool = False, chunks: int = 0) -> float:
    """N tasks writing one file each (or ``chunks`` tasks writing N/chunks each); with ``store``, each folder
    versioned as it lands (or all at once: ``batched``)."""
    import ray

    started = time.perf_counter()
    items = [(str(out / f"p{i:04}" / "prompt.json"), body) for i, body in enumerate(bodies)]
    if chunks:
        size = -(-len(items) // chunks)
        many = ray.remote(num_cpus=0)(write_outputs)
        ray.get([many.remote(items[k:k + size]) for k in range(0, len(items), size)])
        return time.perf_counter() - started
    task = ray.remote(num_cpus=0)(write_output)
    refs = [task.remote(path, body) for path, body in items]
    if store is None:
        ray.get(refs)
    elif batched:
        folders = ray.get(refs)
        store.repo.add(folders)
        store.repo.push(folders, remote=None)
    else:
        pending = refs
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            folder = ray.get(ready[0])
            store.repo.add([folder])
            store.repo.push([folder], remote=None)
    return time.perf_counter() - started


RAW_SCRIPT = """\
import json, sys, time
from pathlib import Path
import ray
address, out, bodies = sys.argv[1], Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
ray.init(address=address, namespace="llmops", log_to_driver=False, logging_level="ERROR", configure_logging=False)
@ray.remote(num_cpus=0)
def write_output(path, body):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(body)
ray.get([write_output.remote(str(out / f"p{i:04}" / "prompt.json"), b) for i, b in enumerate(bodies)])
"""


def raw_ray_script(base: Path, bodies: list[str], cluster: Any) -> float:
    """The hand-written Ray script a user would run instead of apply: a fresh process, ray.init, N tasks."""
    script, data = base / "raw_ray.py", base / "bodies.json"
    script.write_text(RAW_SCRIPT)
    data.write_text(json.dumps(bodies))
    seconds, _ = timed([sys.executable, str(script), cluster.address, str(base / "raw-script-out"), str(data)],
                       env={**os.environ, **cluster.env()})
    return seconds


def preload() -> None:
    """Import what the in-process apply uses, so its first timing is not an import timing."""
    import importlib

    for module in ("compiler.compile", "compiler.fingerprint", "compiler.plan", "runners.apply", "runners.steps.prompt"):
        importlib.import_module(module)


def apply_in_process(specs: Path, cluster: Any, n: int, profiler: cProfile.Profile | None = None) -> dict[str, float]:
    """compile + fingerprint + plan, then Applier.run under the state lock: what ``llmops apply`` does after start-up."""
    from compiler import compile_project
    from compiler.fingerprint import fingerprint_graph
    from compiler.lockfile import read_lock
    from compiler.plan import plan_changes
    from runners.apply import Applier
    from runners.dvc_store import Store
    from runners.state import state_guard

    started = time.perf_counter()
    compilation = compile_project(specs)
    if not compilation.ok:
        raise BenchError(f"the generated project does not compile: {compilation.diagnostics[:3]}")
    prints = fingerprint_graph(compilation.project, compilation.graph)
    plan = plan_changes(compilation.graph, prints, read_lock(specs)[0], compilation.project.specs_digest)
    planned = time.perf_counter()
    store = Store(specs)
    if profiler:
        profiler.enable()
    try:
        with state_guard(specs):
            report = Applier(compilation, plan, prints, store, cluster).run()
    finally:
        if profiler:
            profiler.disable()
        store.close()
    applied = time.perf_counter()
    if report.count("applied") != n:
        raise BenchError(f"in-process apply applied {report.count('applied')} of {n}: "
                         + "; ".join(f"{r.node}: {r.error}" for r in report.nodes if r.error)[:2000])
    return {"plan_s": planned - started, "apply_s": applied - planned}


def apply_cli(specs: Path, cluster: Any, n: int) -> float:
    seconds, proc = timed([*llmops_cmd(), "apply", "specs", "--yes", "--address", cluster.address],
                          cwd=specs.parent, env={**cli_env(), **cluster.env()})
    if f"{n} applied" not in proc.stdout.decode():
        raise BenchError(f"llmops apply did not report {n} applied:\n{proc.stdout.decode()[-2000:]}")
    return seconds


def dvc_repro(root: Path, n: int) -> tuple[float, float]:
    env = dvc_env(root)
    repro, _ = timed([str(dvc_bin()), "repro", "-q"], cwd=root, env=env)
    written = sum(1 for _ in (root / "out").glob("p*/prompt.json"))
    if written != n:
        raise BenchError(f"dvc repro wrote {written} of {n} outputs")
    push, _ = timed([str(dvc_bin()), "push", "-q"], cwd=root, env=env)
    return repro, push


# --------------------------------------------------------------------------------------------------------------------
# One size, the profile
# --------------------------------------------------------------------------------------------------------------------

WARM_TASKS = 50  # tasks run untimed just before each in-process timing, so it starts on this job's warm workers
KEYS = ("raw_ray", "raw_ray_chunked", "raw_ray_script", "raw_dvc", "raw_dvc_batched", "apply_plan", "apply_inproc", "apply_cli",
        "dvc_repro", "dvc_push")


def bench_size(n: int, args: argparse.Namespace, workdir: Path, cluster: Any) -> dict[str, Any]:
    from runners.dvc_store import Store

    bodies = [prompt_body(i) for i in range(n)]
    samples = {key: Samples() for key in KEYS}
    for r in range(args.repeat):
        base = workdir / f"n{n}-r{r}"
        base.mkdir(parents=True)
        warm = bodies[:WARM_TASKS]
        raw_ray(base / "warm-0", warm)
        samples["raw_ray"].values.append(raw_ray(base / "raw-out", bodies))
        samples["raw_ray_chunked"].values.append(raw_ray(base / "raw-chunked-out", bodies, chunks=args.num_cpus))
        samples["raw_ray_script"].values.append(raw_ray_script(base, bodies, cluster))
        for key, batched in (("raw_dvc", False), ("raw_dvc_batched", True)):
            root = dvc_output_project(base / key)
            store = Store(root)
            raw_ray(base / f"warm-{key}", warm)
            try:
                samples[key].values.append(raw_ray(root / "out", bodies, store, batched))
            finally:
                store.close()
        specs = llmops_project(base / "inproc", n)
        raw_ray(base / "warm-apply", warm)
        timings = apply_in_process(specs, cluster, n)
        samples["apply_plan"].values.append(timings["plan_s"])
        samples["apply_inproc"].values.append(timings["apply_s"])
        samples["apply_cli"].values.append(apply_cli(llmops_project(base / "cli", n), cluster, n))
        if n in args.dvc_sizes:
            repro, push = dvc_repro(dvc_repro_project(base, bodies), n)
            samples["dvc_repro"].values.append(repro)
            samples["dvc_push"].values.append(push)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        args.log(f"[N={n}] run {r + 1}/{args.repeat}: " + ", ".join(
            f"{k} {s.values[-1]:.2f}s" for k, s in samples.items() if len(s.values) > r))
    row: dict[str, Any] = {"n": n, **{f"{k}_s": s.median for k, s in samples.items()}}
    row["samples"] = {k: s.to_dict() for k, s in samples.items() if s.values}
    return row


CAUSES = [  # (label, file suffix, function): cumulative time of each in the driver, from the profile
    ("Applier.run, all of it", "runners/apply.py", "run"),
    ("landing per batch of nodes (Store.land_many)", "runners/dvc_store.py", "land_many"),
    ("  of which fetching the outputs from the remote (fetch_folders)", "runners/objects.py", "fetch_folders"),
    ("  of which hashing into the cache, relinking (commit_to_cache)", "runners/dvc_commit.py", "commit_to_cache"),
    ("  of which .dvc files and .gitignore (write_dvc_file)", "runners/dvc_commit.py", "write_dvc_file"),
    ("lock rewrite per batch (LockWriter.record)", "runners/state.py", "record"),
    ("  of which encoding the changed entries (lock_text)", "runners/state.py", "lock_text"),
    ("  of which write_atomic (fsync, rename)", "runners/files.py", "write_atomic"),
    ("Ray submission (Applier._send: jobs, .remote)", "runners/apply.py", "_send"),
    ("  of which node_context", "runners/node_context.py", "node_context"),
    ("  of which upstream objects by md5 (upstream_objects)", "runners/staging.py", "upstream_objects"),
    ("  of which staging sources (staged_sources)", "runners/staging.py", "staged_sources"),
    ("  of which Ray's .remote()", "ray/remote_function.py", "_remote"),
    ("waiting on Ray (ray.wait)", "ray/_private/worker.py", "wait"),
    ("collecting results (ray.get)", "ray/_private/worker.py", "get"),
    ("git identity (Recorder.__init__)", "runners/recorder.py", "identity"),
]


def profile_apply(n: int, workdir: Path, cluster: Any, top: int) -> dict[str, Any]:
    """cProfile of Applier.run at N, and where its time goes by cause (cumulative seconds in the driver)."""
    profiler = cProfile.Profile()
    specs = llmops_project(workdir / f"profile-{n}", n)
    raw_ray(workdir / f"profile-{n}" / "warm", [prompt_body(i) for i in range(min(n, WARM_TASKS))])
    timings = apply_in_process(specs, cluster, n, profiler)
    stats = pstats.Stats(profiler)
    causes = []
    for label, suffix, function in CAUSES:
        seconds = sum(v[3] for (file, _, name), v in stats.stats.items() if file.endswith(suffix) and name == function)
        calls = sum(v[1] for (file, _, name), v in stats.stats.items() if file.endswith(suffix) and name == function)
        causes.append({"cause": label, "seconds": seconds, "calls": calls})
    listing = {}
    for order in ("cumulative", "tottime"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(top)
        listing[order] = buffer.getvalue().replace(str(REPO) + "/", "").replace(str(Path(sys.prefix)) + "/", "<venv>/")
    return {"n": n, "apply_s_profiled": timings["apply_s"], "causes": causes, "listing": listing}


# --------------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------------


def marginal(rows: list[dict[str, Any]], key: str) -> list[float | None]:
    """ms per node between consecutive sizes: the fixed start-up cancels out; linear means flat."""
    out: list[float | None] = [None]
    for prev, cur in itertools.pairwise(rows):
        a, b = prev[key], cur[key]
        out.append((b - a) / (cur["n"] - prev["n"]) * 1000 if a is not None and b is not None else None)
    return out


def report(results: dict[str, Any]) -> list[str]:
    rows = results["sizes"]
    lines = [(f"{'N':>5} {'apply cli':>9} {'apply in-proc':>13} {'raw ray':>8} {'raw script':>10} {'raw+dvc':>8} "
              f"{'raw+dvc batch':>13} {'dvc repro':>9} {'cli/script':>10} {'in-proc/raw':>11} {'in-proc/raw+dvc':>15} "
              f"{'repro/cli':>9} {'repro/in-proc':>13}")]
    for row in rows:
        lines.append(
            f"{row['n']:>5} {_fmt(row['apply_cli_s'], 2):>9} {_fmt(row['apply_inproc_s'], 2):>13} {_fmt(row['raw_ray_s'], 2):>8} "
            f"{_fmt(row['raw_ray_script_s'], 2):>10} {_fmt(row['raw_dvc_s'], 2):>8} {_fmt(row['raw_dvc_batched_s'], 2):>13} "
            f"{_fmt(row['dvc_repro_s'], 2):>9} {_fmt(_ratio(row['apply_cli_s'], row['raw_ray_script_s']), 1):>10} "
            f"{_fmt(_ratio(row['apply_inproc_s'], row['raw_ray_s']), 1):>11} "
            f"{_fmt(_ratio(row['apply_inproc_s'], row['raw_dvc_s']), 2):>15} "
            f"{_fmt(_ratio(row['dvc_repro_s'], row['apply_cli_s']), 1):>9} {_fmt(_ratio(row['dvc_repro_s'], row['apply_inproc_s']), 1):>13}")
    lines += ["", "marginal ms per node between consecutive sizes (start-up cancels out):",
              f"{'N':>5} {'apply cli':>9} {'apply in-proc':>13} {'raw ray':>8} {'raw script':>10} {'raw+dvc':>8} {'raw+dvc batch':>13}"]
    cols = {k: marginal(rows, f"{k}_s") for k in ("apply_cli", "apply_inproc", "raw_ray", "raw_ray_script", "raw_dvc",
                                                   "raw_dvc_batched")}
    for i, row in enumerate(rows):
        lines.append(f"{row['n']:>5} {_fmt(cols['apply_cli'][i], 1):>9} {_fmt(cols['apply_inproc'][i], 1):>13} "
                     f"{_fmt(cols['raw_ray'][i], 1):>8} {_fmt(cols['raw_ray_script'][i], 1):>10} "
                     f"{_fmt(cols['raw_dvc'][i], 1):>8} {_fmt(cols['raw_dvc_batched'][i], 1):>13}")
    lines += ["", "details (s): apply plan = compile + fingerprint + plan in-process; cli start-up = apply cli - plan - in-proc;",
              "raw chunked = the N writes in as many Ray tasks as the cluster has CPUs (Ray's advice for tiny tasks)",
              (f"{'N':>5} {'apply plan':>10} {'cli start-up':>12} {'dvc push':>8} {'repro+push':>10} {'repro+push/cli':>14} "
               f"{'raw chunked':>11} {'in-proc/chunked':>15}")]
    for row in rows:
        startup = (row["apply_cli_s"] - row["apply_plan_s"] - row["apply_inproc_s"]
                   if None not in (row["apply_cli_s"], row["apply_plan_s"], row["apply_inproc_s"]) else None)
        both = row["dvc_repro_s"] + row["dvc_push_s"] if row["dvc_repro_s"] is not None else None
        chunked = row.get("raw_ray_chunked_s")
        lines.append(f"{row['n']:>5} {_fmt(row['apply_plan_s'], 2):>10} {_fmt(startup, 2):>12} "
                     f"{_fmt(row['dvc_push_s'], 2):>8} {_fmt(both, 2):>10} {_fmt(_ratio(both, row['apply_cli_s']), 1):>14} "
                     f"{_fmt(chunked, 2):>11} {_fmt(_ratio(row['apply_inproc_s'], chunked), 1):>15}")
    return lines


def judge(results: dict[str, Any]) -> list[dict[str, str]]:
    rows = results["sizes"]
    out: list[dict[str, str]] = []

    def add(name: str, ok: bool | None, figure: str) -> None:
        out.append({"target": name, "status": "n/a" if ok is None else ("met" if ok else "NOT MET"), "figure": figure})

    for label, apply_key, raw_key in (("cli vs raw script", "apply_cli_s", "raw_ray_script_s"),
                                      ("in-process vs raw in-process", "apply_inproc_s", "raw_ray_s")):
        ratios = [(r["n"], _ratio(r[apply_key], r[raw_key])) for r in rows]
        worst = max((x for _, x in ratios if x is not None), default=None)
        add(f"apply <= {TARGET_RAW_FACTOR:g}x raw Ray ({label})", None if worst is None else worst <= TARGET_RAW_FACTOR,
            ", ".join(f"N={n}: {_fmt(x, 2)}x" for n, x in ratios))
    at = next((r for r in rows if r["n"] == TARGET_DVC_AT and r["dvc_repro_s"] is not None), None)
    for label, key in (("cli", "apply_cli_s"), ("in-process", "apply_inproc_s")):
        speedup = _ratio(at["dvc_repro_s"], at[key]) if at else None
        add(f">= {TARGET_DVC_SPEEDUP:g}x faster than dvc repro at N={TARGET_DVC_AT} ({label})",
            None if speedup is None else speedup >= TARGET_DVC_SPEEDUP,
            "dvc repro not measured there" if speedup is None else f"{speedup:.1f}x")
    for label, key in (("cli", "apply_cli_s"), ("in-process", "apply_inproc_s")):
        slopes = [m for m in marginal(rows, key) if m is not None]
        ok = slopes[-1] <= LINEAR_TOLERANCE * max(slopes[0], 1e-9) if len(slopes) >= 2 else None
        add(f"linear in N ({label}: last marginal <= {LINEAR_TOLERANCE:g}x first)", ok,
            " -> ".join(f"{m:.1f}" for m in slopes) + " ms/node" if slopes else "needs three sizes")
    return out


# --------------------------------------------------------------------------------------------------------------------


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nJSON written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,200,500", help="comma-separated N (Prompt nodes); default %(default)s")
    parser.add_argument("--dvc-sizes", default=str(TARGET_DVC_AT),
                        help="sizes at which dvc repro is timed too ('none' to skip); default %(default)s")
    parser.add_argument("--repeat", type=int, default=1, help="runs per timing, median reported (default %(default)s)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray cluster (default %(default)s)")
    parser.add_argument("--profile", type=int, metavar="N", help="also cProfile the in-process apply at this size")
    parser.add_argument("--profile-top", type=int, default=30, help="functions listed per profile (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results, with every sample, as JSON here")
    parser.add_argument("--workdir", type=Path, help="where to generate the projects (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    args.dvc_sizes = set() if args.dvc_sizes == "none" else {int(s) for s in args.dvc_sizes.split(",") if s.strip()}
    args.log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))

    from runners.cluster import connect, start_local, stop_local

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="llmops-apply-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    dvc_version = subprocess.run([str(dvc_bin()), "--version"], check=False, capture_output=True, text=True, env=dvc_env(workdir))
    results: dict[str, Any] = {
        "command": " ".join(llmops_cmd()) + " apply specs --yes --address ADDR", "dvc_version": dvc_version.stdout.strip(),
        "python": sys.version.split()[0], "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "load_before": os.getloadavg(), "repeat": args.repeat, "statistic": "median", "sizes": []}
    cluster_home = workdir / "cluster"
    cluster_home.mkdir(exist_ok=True)
    started = time.perf_counter()
    try:
        cluster = connect(start_local(cluster_home, num_cpus=args.num_cpus))
        args.log(f"Ray cluster {cluster.address} ({args.num_cpus} CPUs) up in {time.perf_counter() - started:.1f} s; "
                 f"workdir {workdir}")
        preload()
        for n in sizes:
            results["sizes"].append(bench_size(n, args, workdir, cluster))
        if args.profile:
            results["profile"] = profile_apply(args.profile, workdir, cluster, args.profile_top)
    finally:
        import ray

        ray.shutdown()
        stop_local(cluster_home)
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    results["targets"] = judge(results)

    print(f"llmops apply benchmark: `{results['command']}` vs raw Ray tasks and `dvc repro` ({results['dvc_version']}); "
          f"python {results['python']}; {results['machine']}; load average {results['load_before'][0]:.2f} before, "
          f"{results['load_after'][0]:.2f} after")
    print(f"N = Prompt nodes (one JSON file each); wall seconds, medians of {args.repeat} run(s); each run on fresh "
          "projects and fresh DVC remotes\n")
    print("\n".join(report(results)))
    print("\ntargets:")
    for t in results["targets"]:
        print(f"  {t['status']:>7}  {t['target']}: {t['figure']}")
    if "profile" in results:
        prof = results["profile"]
        total = prof["causes"][0]["seconds"] or 1.0
        print(f"\nwhere in-process apply's time goes at N={prof['n']} (cProfile, driver thread; "
              f"{prof['apply_s_profiled']:.2f} s wall under the profiler):")
        for c in prof["causes"]:
            print(f"  {c['seconds']:8.2f} s {100 * c['seconds'] / total:5.1f}%  {c['calls']:>6} calls  {c['cause']}")
        for order, text in prof["listing"].items():
            print(f"\ncProfile of Applier.run at N={prof['n']}, by {order}:\n{text}")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
