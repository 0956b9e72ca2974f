"""Near-duplicate removal: MinHash over character shingles, candidates found by LSH banding.

The algorithm (Broder's MinHash with the banding of Leskovec, Rajaraman & Ullman, ch. 3):

1. Each text is normalized (lowercased, runs of whitespace made one space) and cut into
   overlapping ``shingle_size``-character shingles, each hashed to 64 bits (a polynomial
   rolling hash finished with splitmix64). Texts shorter than a shingle are padded.
2. A row's signature is, for each of ``num_perm`` hash functions ``x -> a*x mod 2**64``
   (``a`` odd, fixed, so runs agree), the minimum over its shingles. Two rows
   agree on one position with probability equal to the Jaccard similarity of their
   shingle sets, so the fraction of equal positions estimates it.
3. The signature is cut into ``b`` bands of ``r`` rows, with ``b, r`` chosen to minimise the
   false-positive plus false-negative area around the threshold (as datasketch does); rows
   sharing a band's values become candidates.
4. Rows are visited in order; a row is dropped when an earlier *kept* candidate's estimated
   Jaccard similarity is at or above ``threshold``. Comparing only with kept rows means a
   chain a~b~c never removes c for resembling a removed b.

Everything is vectorized with numpy; the loop in step 4 does dictionary lookups only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from runners.data.table import Table, TransformReport

_BASE = np.uint64(0x100000001B3)      # the rolling hash's multiplier (FNV's prime)
_PAD = "\x00"
_CHUNK_ELEMENTS = 1 << 19             # hash products computed at once (4 MiB: about an L2 cache)


@dataclass(frozen=True)
class MinHashLSH:
    """The parameters of one near-dedup pass, as they are reported."""

    threshold: float
    num_perm: int
    shingle_size: int
    bands: int
    rows_per_band: int


def odd_constants(purpose: str, count: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers, from BLAKE2b rather than a numpy RNG whose streams may change between versions."""
    return np.array([int.from_bytes(hashlib.blake2b(f"llmops-{purpose}:{i}".encode(), digest_size=8).digest(), "little") | 1
                     for i in range(count)], dtype=np.uint64)


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: spreads the rolling hash's bits over all 64."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def shingle_hashes(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes of all texts, concatenated, and where each text's run starts."""
    padded = [t if len(t) >= k else t + _PAD * (k - len(t)) for t in texts]
    lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = len(codes) - k + 1
    rolling = np.zeros(windows, dtype=np.uint64)
    for j in range(k):
        rolling *= _BASE
        rolling += codes[j: j + windows]
    _mix(rolling)
    counts = lengths - k + 1
    text_starts = np.cumsum(lengths) - lengths
    run_starts = np.cumsum(counts) - counts
    positions = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(text_starts - run_starts, counts)
    return rolling[positions], run_starts


def signatures(texts: list[str], num_perm: int, k: int) -> np.ndarray:
    """The (rows, num_perm) MinHash signatures of ``texts``."""
    if not texts:
        return np.zeros((0, num_perm), dtype=np.uint64)
    multipliers = odd_constants("minhash", num_perm)
    shingles, run_starts = shingle_hashes([normalize(t) for t in texts], k)
    run_ends = np.append(run_starts[1:], len(shingles))
    out = np.empty((len(texts), num_perm), dtype=np.uint64)
    budget = max(_CHUNK_ELEMENTS // num_perm, 1)    # shingles per chunk: the products stay in cache
    buffer = np.empty((num_perm, budget), dtype=np.uint64)
    first = 0
    while first < len(texts):
        last = max(int(np.searchsorted(run_ends, run_starts[first] + budget, side="right")), first + 1)
        lo, hi = int(run_starts[first]), int(run_ends[last - 1])
        products = buffer[:, : hi - lo] if hi - lo <= budget else np.empty((num_perm, hi - lo), dtype=np.uint64)
        np.multiply(multipliers[:, None], shingles[None, lo:hi], out=products)   # wraps mod 2**64: the hash family
        out[first:last] = np.minimum.reduceat(products, run_starts[first:last] - lo, axis=1).T
        first = last
    return out


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid rule (np.trapezoid is numpy 2 only)."""
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


@lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimising false positives + false negatives around ``threshold``."""
    grid = np.linspace(0.0, 1.0, 401)
    below, above = grid <= threshold, grid >= threshold
    best: tuple[float, int, int] | None = None
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - grid**r) ** b               # probability of becoming a candidate
            error = _area(p[below], grid[below]) + _area(1.0 - p[above], grid[above])
            if best is None or error < best[0] - 1e-12:
                best = (float(error), b, r)
    assert best is not None
    return best[1], best[2]


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (row, band): a mixed weighted sum of the band's values."""
    weights = odd_constants("band", rows)
    keys = np.empty((len(sig), bands), dtype=np.uint64)
    for band in range(bands):
        block = sig[:, band * rows:(band + 1) * rows] * weights
        keys[:, band] = _mix(block.sum(axis=1, dtype=np.uint64) + np.uint64(band))
    return keys


def _sharing_rows(keys: np.ndarray) -> np.ndarray:
    """Rows that share some band key with another row: the only ones that can be, or have, near-duplicates."""
    shared = np.zeros(len(keys), dtype=bool)
    for band in range(keys.shape[1]):
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    return np.flatnonzero(shared)


def near_duplicates(texts: list[str], params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """For each dropped row, the earlier kept row it resembles and their estimated Jaccard similarity."""
    sig = signatures(texts, params.num_perm, params.shingle_size)
    keys = _band_keys(sig, params.bands, params.rows_per_band)
    candidates = _sharing_rows(keys)
    buckets: list[dict[int, list[int]]] = [{} for _ in range(params.bands)]
    dropped: dict[int, tuple[int, float]] = {}
    for i, row_keys in zip(candidates.tolist(), keys[candidates].tolist()):
        match = _first_match(i, row_keys, buckets, sig, params)
        if match:
            dropped[i] = match
        else:
            for band, key in enumerate(row_keys):
                buckets[band].setdefault(key, []).append(i)
    return dropped


def _first_match(i: int, row_keys: list[int], buckets: list[dict[int, list[int]]], sig: np.ndarray,
                 params: MinHashLSH) -> tuple[int, float] | None:
    checked: set[int] = set()
    for band, key in enumerate(row_keys):
        for j in buckets[band].get(key, ()):
            if j not in checked:
                checked.add(j)
                similarity = float(np.count_nonzero(sig[i] == sig[j])) / params.num_perm
                if similarity >= params.threshold:
                    return j, similarity
    return None


def near_dedup(table: Table, column: str, threshold: float, num_perm: int, shingle_size: int,
               examples: int = 5) -> tuple[Table, TransformReport]:
    bands, rows = lsh_bands(threshold, num_perm)
    params = MinHashLSH(threshold, num_perm, shingle_size, bands, rows)
    texts = [(i, row[column]) for i, row in enumerate(table.rows) if row[column] is not None]  # a null is kept
    found = near_duplicates([text for _, text in texts], params) if texts else {}
    dropped = {texts[i][0]: (texts[j][0], s) for i, (j, s) in found.items()}
    result = table.take(i for i in range(len(table)) if i not in dropped)
    details = {
        "algorithm": f"MinHash ({num_perm} hashes over {shingle_size}-character shingles) with LSH banding "
                     f"({bands} bands x {rows} rows); similarity is estimated Jaccard",
        "bands": bands, "rows_per_band": rows,
        "examples": [{"removed": table.origins[i], "kept": table.origins[j], "similarity": round(s, 4)}
                     for i, (j, s) in list(dropped.items())[:examples]],
    }
    report = TransformReport("near_dedup", {"column": column, "threshold": threshold, "num_perm": num_perm,
                                            "shingle_size": shingle_size}, len(table), len(result), details)
    return result, report
