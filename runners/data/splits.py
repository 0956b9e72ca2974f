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
from bisect import bisect_right
from collections import defaultdict
from itertools import accumulate

import orjson

from runners.data.table import Table


def row_hashes(table: Table, key_columns: list[str], seed: int) -> list[int]:
    """A 64-bit keyed hash of each row's identity."""
    key = hashlib.sha256(f"llmops-split:{seed}".encode()).digest()
    return [int.from_bytes(hashlib.blake2b(orjson.dumps([row[c] for c in key_columns]), key=key, digest_size=8).digest(), "big")
            for row in table.rows]


def _slice_of(position: float, bounds: list[float]) -> int:
    """The index of the split whose cumulative slice holds ``position``; len(bounds) when past all of them."""
    return bisect_right(bounds, position)


def assign_splits(table: Table, fractions: dict[str, float], seed: int, key_columns: list[str],
                  stratify_by: str | None = None) -> dict[str, list[int]]:
    """Row indices of each split (in table order); no index appears twice."""
    names = list(fractions)
    bounds = list(accumulate(fractions[n] for n in names))
    if abs(bounds[-1] - 1.0) < 1e-9:
        bounds[-1] = 1.0  # 0.7 + 0.2 + 0.1 is 0.9999999999999999: no row may fall past the end
    hashes = row_hashes(table, key_columns, seed)
    chosen = [len(names)] * len(table)
    if stratify_by is None:
        for i, h in enumerate(hashes):
            chosen[i] = _slice_of(h / 2**64, bounds)
    else:
        strata: dict[bytes, list[int]] = defaultdict(list)
        for i, row in enumerate(table.rows):
            strata[orjson.dumps(row[stratify_by])].append(i)
        for members in strata.values():
            members.sort(key=hashes.__getitem__)
            start, n = 0, len(members)
            while start < n:                      # a run of equal hashes (copies of one row) is placed whole
                end, h = start + 1, hashes[members[start]]
                while end < n and hashes[members[end]] == h:
                    end += 1
                split = _slice_of((start + end) / 2 / n, bounds)
                for i in members[start:end]:
                    chosen[i] = split
                start = end
    picked: dict[str, list[int]] = {name: [] for name in names}
    for i, split in enumerate(chosen):
        if split < len(names):
            picked[names[split]].append(i)
    return picked
