"""Seeded, hash-disjoint splits, optionally stratified.

Each row gets a keyed hash (BLAKE2b, keyed by the seed) of its identity: the values of the
dataset's exact-dedup columns when it has a dedup transform (what the user said makes two
rows the same), else of all columns. Equal identities get equal hashes, so copies of a row
always land in the same split: no leakage between train and eval, even with duplicates.

* Without ``stratify_by`` a row's split depends on its own hash alone: the hash, read as a
  number in [0, 1), falls into one split's slice of the cumulative fractions. Adding or
  removing other rows never moves it; sizes match the fractions up to sampling noise.
* With ``stratify_by`` the rows of each label are ranked by hash and cut at the fractions
  (each group of equal hashes placed whole, at its middle), so every split holds each label
  in the requested proportion up to rounding. Adding rows moves only the rows next to a cut.

Fractions summing below 1 leave the rest of the rows out of every split.
"""

from __future__ import annotations

import hashlib
from itertools import accumulate

import numpy as np
import orjson

from runners.data.table import Table


def row_hashes(table: Table, key_columns: list[str], seed: int) -> list[int]:
    """A 64-bit keyed hash of each row's identity."""
    key = hashlib.sha256(f"llmops-split:{seed}".encode()).digest()
    return [int.from_bytes(hashlib.blake2b(orjson.dumps([row[c] for c in key_columns]), key=key, digest_size=8).digest(), "big")
            for row in table.rows]


def split_bounds(fractions: dict[str, float]) -> list[float]:
    """The cumulative fractions, the last made exactly 1 when they sum to 1 (0.7 + 0.2 + 0.1 is 0.9999999999999999:
    no row may fall past the end)."""
    bounds = list(accumulate(fractions.values()))
    if abs(bounds[-1] - 1.0) < 1e-9:
        bounds[-1] = 1.0
    return bounds


def choose_splits(hashes: np.ndarray, strata: np.ndarray | None, bounds: list[float]) -> np.ndarray:
    """Pure: each row's split, as an index into the fractions (``len(bounds)``: in none), from its identity hash
    (uint64) and, when stratified, its stratum (any integer label); the rules of this module's docstring.

    Stratified, the work is per run of equal hashes within a stratum, and each temporary is freed as soon as
    it is used: a corpus of N rows peaks near 4 x 8 x N bytes here, not at a dozen arrays of N."""
    edges = np.asarray(bounds, dtype=np.float64)
    if strata is None:
        return np.searchsorted(edges, hashes.astype(np.float64) / 2.0**64, side="right").astype(np.int16)
    n = len(hashes)
    order = np.lexsort((hashes, strata))                    # by stratum, then hash
    s = strata[order]
    first = np.empty(n, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])              # a stratum starts
    del s
    stratum_starts = np.flatnonzero(first)
    h = hashes[order]
    first[1:] |= h[1:] != h[:-1]                            # a run of equal hashes (copies of one row) starts: goes whole
    del h
    run_starts = np.flatnonzero(first)
    del first
    stratum = np.searchsorted(stratum_starts, run_starts, side="right") - 1
    base = stratum_starts[stratum]
    size = np.diff(np.append(stratum_starts, n))[stratum]
    del stratum
    lengths = np.diff(np.append(run_starts, n))
    position = ((run_starts - base) * 2 + lengths).astype(np.float64) / 2 / size   # (start + end) / 2 / n, per run
    del base, size, run_starts
    chosen = np.empty(n, dtype=np.int16)
    chosen[order] = np.repeat(np.searchsorted(edges, position, side="right").astype(np.int16), lengths)
    return chosen


def stratum_labels(values: list, labels: dict[bytes, int]) -> np.ndarray:
    """Each value's stratum as an integer, numbered as first seen (``labels`` carries the numbering across blocks)."""
    return np.fromiter((labels.setdefault(orjson.dumps(v), len(labels)) for v in values), dtype=np.int32, count=len(values))


def assign_splits(table: Table, fractions: dict[str, float], seed: int, key_columns: list[str],
                  stratify_by: str | None = None) -> dict[str, list[int]]:
    """Row indices of each split (in table order); no index appears twice."""
    names = list(fractions)
    hashes = np.array(row_hashes(table, key_columns, seed), dtype=np.uint64)
    strata = stratum_labels([row[stratify_by] for row in table.rows], {}) if stratify_by else None
    chosen = choose_splits(hashes, strata, split_bounds(fractions))
    return {name: np.flatnonzero(chosen == k).tolist() for k, name in enumerate(names)}
