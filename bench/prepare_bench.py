#!/usr/bin/env python
"""Benchmark: a Dataset's prepare at corpus scale, its time and its peak memory, row counts side by side.

A generated jsonl corpus (~120-byte rows: families of near-copies, exact copies, emails and phone
numbers, a label) goes through the prepare of issue 12's measurement: dedup, pii_redact,
near_dedup, stratified splits. Each size runs in a child process of its own (``llmops``'s step,
``runners.steps.prepare.run``, called as a worker calls it), so its peak RSS is its own: the
worker's memory. The issue's figures for the one-table prepare this replaced are printed beside
them (10k: 147 MiB, 100k: 357 MiB, 1M: 2,383 MiB in 73 s).

Targets (issue 12): every size completes; peak RSS <= 1.5 GB at every size and flat from 1M to
10M; wall time linear in rows. It reports figures and judges them; it asserts nothing.

    python bench/prepare_bench.py                        # 100k, 1M and 10M rows (10M: several minutes)
    python bench/prepare_bench.py --sizes 100000 1000000
    python bench/prepare_bench.py --quick                # 20k rows: what the tests run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ISSUE_ONE_TABLE = {10_000: (2.2, 147), 100_000: (5.7, 357), 1_000_000: (73.0, 2383)}  # rows: (seconds, MiB)
TARGET_RSS_MIB = 1.5 * 1024
SPEC = """\
apiVersion: llmops/v1
kind: Dataset
metadata: {name: corpus}
spec:
  source: {path: data/corpus.jsonl}
  columns: {id: int, text: string, label: string}
  transforms:
    - dedup: {columns: [text]}
    - pii_redact: {columns: [text]}
    - near_dedup: {column: text}
  splits: {train: 0.9, eval: 0.1, seed: 7, stratify_by: label}
"""
WORDS = ("account billing refund invoice payment card charged twice login password reset crash error app sync "
         "offline export upload photo page settings profile dark mode support plan price hours order delivery late "
         "parcel address shipping return exchange size colour broken missing item warranty repair").split()
LABELS = ("billing", "bug", "account", "shipping", "other")


def write_corpus(path: Path, rows: int, seed: int = 0) -> int:
    """``rows`` jsonl rows, streamed to ``path``: a fifth near-copies of an earlier row, a twentieth exact copies,
    one in thirty with an email or phone. Returns the bytes written."""
    rng = random.Random(seed)
    recent: list[str] = []
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            roll = rng.random()
            if recent and roll < 0.05:
                text = rng.choice(recent)
            elif recent and roll < 0.25:
                words = rng.choice(recent).split()
                words[rng.randrange(len(words))] = rng.choice(WORDS)
                text = " ".join(words)
            else:
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 18)))
                if rng.random() < 0.033:
                    email = rng.random() < 0.5
                    text += f" reach me at user{i}@example.com" if email else f" call +1 555 {i % 1000:03} {i % 9000 + 1000}"
            recent.append(text)
            if len(recent) > 2000:
                recent.pop(rng.randrange(len(recent)))
            out.write(json.dumps({"id": i, "text": text, "label": rng.choice(LABELS)}) + "\n")
    return path.stat().st_size


CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from compiler.compile import compile_project
    from llmops_spec import Ref
    from runners.step import StepContext
    from runners.steps.prepare import run

    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    compilation = compile_project(root, use_cache=False)
    spec = compilation.project.get(Ref.parse("Dataset/corpus")).spec
    started = time.perf_counter()
    result = run(StepContext(root=root, node="Dataset/corpus:prepare", step="prepare", resource="Dataset/corpus",
                             spec=spec, out=out))
    print(json.dumps({"seconds": time.perf_counter() - started, "metrics": result.metrics,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def prepare_once(work: Path, rows: int) -> dict:
    root = work / f"rows-{rows}"
    (root / "data").mkdir(parents=True)
    (root / "corpus.yaml").write_text(SPEC)
    started = time.perf_counter()
    size = write_corpus(root / "data" / "corpus.jsonl", rows)
    generated = time.perf_counter() - started
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(work / f"out-{rows}")], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"prepare of {rows} rows failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"rows": rows, "bytes": size, "generate_s": generated, **result}


def report(results: list[dict]) -> list[str]:
    lines = [f"{'rows':>11} {'MB':>7} {'seconds':>8} {'rows/s':>9} {'peak RSS':>10}   rows out   one-table prepare (issue 12)"]
    for r in results:
        old = ISSUE_ONE_TABLE.get(r["rows"])
        before = f"{old[0]:.1f} s, {old[1]:,} MiB" if old else "-"
        lines.append(f"{r['rows']:>11,} {r['bytes'] / 1e6:>7.1f} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} "
                     f"{r['rss_mib']:>7,.0f} MiB   {r['metrics']['rows_out']:>8,}   {before}")
    lines.append("Targets:")
    worst = max(r["rss_mib"] for r in results)
    lines.append(f"  {'met' if worst <= TARGET_RSS_MIB else 'NOT MET':8} peak RSS <= 1.5 GB at every size: {worst:,.0f} MiB")
    big = [r for r in results if r["rows"] >= 1_000_000]
    if len(big) >= 2:
        growth = big[-1]["rss_mib"] / big[0]["rss_mib"]
        lines.append(f"  {'met' if growth <= 1.25 else 'NOT MET':8} peak RSS flat from {big[0]['rows']:,} to "
                     f"{big[-1]['rows']:,} rows (within 25%): x{growth:.2f}")
    if len(results) >= 2:
        per_row = [r["seconds"] / r["rows"] for r in results]
        spread = per_row[-1] / per_row[0]
        lines.append(f"  {'met' if spread <= 1.5 else 'NOT MET':8} wall time linear in rows (seconds per row, largest / "
                     f"smallest, within 1.5x): x{spread:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else sorted(args.sizes)
    results = []
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as work:
        for rows in sizes:
            print(f"prepare of {rows:,} rows ...", flush=True)
            results.append(prepare_once(Path(work), rows))
    print("\n".join(report(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
