"""Near-dedup benchmark: llmops' MinHash LSH (one block, many blocks) next to datasketch's.

All sections run on the same generated rows (bench/corpus.py: ~120-byte rows with planted exact
copies, near copies, chains and hard negatives, and the rows that should go under the TRUE
Jaccard similarity). Each section runs in a forked child, from the texts to the set of dropped
row ids, so its peak RSS is its own (the corpus, shared with the parent, is counted in it):

(a) llmops, one block: ``near_duplicates(texts)``.
(b) llmops, ``--blocks`` blocks one after another: ``hash_block`` per block, then the
    candidate components and decisions over all blocks (what a Ray Data pipeline would run in
    ``map_batches`` and on the driver), single process.
(c) datasketch's MinHashLSH, single process, same threshold and num_perm, 5-character shingles
    of the same normalized text, the same rule: each row's MinHash queries the LSH in order, the
    row is dropped when a returned (kept) row's estimated Jaccard is >= threshold, else inserted.
(d) text-dedup, when it is importable (it is not installed here: see bench/README.md).

It reports figures and asserts nothing, apart from printing whether (b) dropped exactly the
rows (a) did, which tests/test_benches_run.py looks for.

    python bench/data_bench.py                 # 1,000,000 rows (several minutes; datasketch is most of it)
    python bench/data_bench.py --rows 200000
    python bench/data_bench.py --quick         # 20,000 rows: what the tests run
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from corpus import Corpus, generate, precision_recall  # noqa: E402

from runners.data.near_dedup import (MinHashLSH, lsh_bands, near_duplicates, near_duplicates_blocked,  # noqa: E402
                                     normalize)


def forked(fn):
    """Run ``fn()`` in a forked child: (its result, wall seconds, the child's peak RSS in MiB)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                            # the child: run, send, leave without cleanup
        os.close(read)
        try:
            start = time.perf_counter()
            result = fn()
            seconds = time.perf_counter() - start
            payload = pickle.dumps((result, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, None))
        except BaseException as error:                      # noqa: BLE001 - reported by the parent
            payload = pickle.dumps((None, 0.0, 0.0, f"{type(error).__name__}: {error}"))
        with os.fdopen(write, "wb") as handle:
            handle.write(payload)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        result, seconds, rss, error = pickle.loads(handle.read())
    os.waitpid(pid, 0)
    if error:
        raise RuntimeError(error)
    return result, seconds, rss


def llmops_single(texts: list[str], params: MinHashLSH) -> np.ndarray:
    return np.fromiter(near_duplicates(texts, params), dtype=np.int64)


def llmops_blocked(texts: list[str], params: MinHashLSH, blocks: int) -> np.ndarray:
    parts = np.array_split(np.arange(len(texts), dtype=np.int64), blocks)
    return np.fromiter(near_duplicates_blocked([(ids, texts[ids[0]: ids[-1] + 1] if len(ids) else [])
                                                for ids in parts], params), dtype=np.int64)


def datasketch_keep_first(texts: list[str], threshold: float, num_perm: int, k: int) -> np.ndarray:
    from datasketch import MinHash
    from datasketch import MinHashLSH as DatasketchLSH

    lsh = DatasketchLSH(threshold=threshold, num_perm=num_perm)
    probe = MinHash(num_perm=num_perm)                           # its default scheme (2.0: affine32)
    permutations, scheme = probe.permutations, probe.scheme      # made once, as MinHash.bulk does
    kept: dict[int, MinHash] = {}
    dropped: list[int] = []
    for i, text in enumerate(texts):
        text = normalize(text)
        shingles = {text[j: j + k].encode() for j in range(len(text) - k + 1)} or {text.encode()}
        m = MinHash(num_perm=num_perm, permutations=permutations, scheme=scheme)
        m.update_batch(list(shingles))
        if any(m.jaccard(kept[j]) >= threshold for j in lsh.query(m)):
            dropped.append(i)
        else:
            lsh.insert(i, m)
            kept[i] = m
    return np.array(dropped, dtype=np.int64)


def text_dedup_reason() -> str | None:
    """Why text-dedup is not measured, or None when it could be."""
    try:
        import text_dedup  # noqa: F401
    except ImportError:
        return ("text-dedup is not installed: `pip install text-dedup -c constraints.txt --dry-run` leaves torch "
                "alone but adds pyspark, datasets and onnxruntime and downgrades rich and urllib3, and this "
                "environment is shared; see bench/README.md")
    return "text-dedup is importable, but its MinHash runs as a CLI over a datasets folder: not wired in here"


def recall_by_similarity(dropped: np.ndarray, corpus: Corpus) -> str:
    found = np.isin(corpus.truth, dropped)
    parts = []
    for label, lo, hi in (("J=1", 1.0, 2.0), ("0.96<=J<1", 0.96, 1.0), ("J<0.96", 0.0, 0.96)):
        inside = (corpus.truth_similarity >= lo) & (corpus.truth_similarity < hi)
        if inside.any():
            parts.append(f"{label}: {found[inside].mean():.3f} of {int(inside.sum())}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--blocks", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--shingle-size", type=int, default=5)
    parser.add_argument("--no-datasketch", action="store_true")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"numpy {np.__version__}", flush=True)
    start = time.perf_counter()
    corpus = generate(rows, seed=args.seed, threshold=args.threshold, shingle_size=args.shingle_size)
    print(f"corpus: {rows} rows, {sum(map(len, corpus.texts)) / rows:.0f} chars a row on average, families "
          f"{corpus.counts}, {len(corpus.truth)} rows to drop under true Jaccard "
          f"(generated in {time.perf_counter() - start:.1f} s)", flush=True)
    bands, per_band = lsh_bands(args.threshold, args.num_perm)
    params = MinHashLSH(args.threshold, args.num_perm, args.shingle_size, bands, per_band)
    print(f"threshold {args.threshold}, {args.num_perm} hashes, {args.shingle_size}-character shingles, "
          f"llmops bands {bands} x {per_band}", flush=True)

    sections: dict[str, tuple[np.ndarray, float, float]] = {}
    runs = {"(a) llmops, 1 block": lambda: llmops_single(corpus.texts, params),
            f"(b) llmops, {args.blocks} blocks": lambda: llmops_blocked(corpus.texts, params, args.blocks)}
    if args.no_datasketch:
        print("(c) datasketch: skipped (--no-datasketch)")
    else:
        try:
            import datasketch
            runs[f"(c) datasketch {datasketch.__version__}"] = lambda: datasketch_keep_first(
                corpus.texts, args.threshold, args.num_perm, args.shingle_size)
        except ImportError:
            print("(c) datasketch: not installed (pip install -e '.[dev]')")
    for name, run in runs.items():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        sections[name] = forked(run)
    print(f"(d) text-dedup: skipped: {text_dedup_reason()}")

    reference = next((s for n, s in sections.items() if n.startswith("(c)")), None)
    print()
    print("| section | seconds | rows/s | x datasketch | precision | recall | removed | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (dropped, seconds, rss) in sections.items():
        precision, recall = precision_recall(dropped, corpus.truth)
        ratio = f"{reference[1] / seconds:.1f}" if reference else "-"
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} | {ratio} | {precision:.4f} | {recall:.4f} | "
              f"{len(dropped)} | {rss:,.0f} |")
    print()
    for name, (dropped, _, _) in sections.items():
        print(f"recall by true similarity, {name}: {recall_by_similarity(dropped, corpus)}")
    single, blocked = (sections[n][0] for n in list(sections)[:2])
    print(f"blocked == single: {np.array_equal(np.sort(single), np.sort(blocked))}")
    if reference is not None:
        print(f"rows dropped by both llmops and datasketch: {len(np.intersect1d(single, reference[0]))}, "
              f"llmops only: {len(np.setdiff1d(single, reference[0]))}, "
              f"datasketch only: {len(np.setdiff1d(reference[0], single))}")


if __name__ == "__main__":
    main()
