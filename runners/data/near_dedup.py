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
   chain a~b~c never removes c for resembling a removed b. The match reported is the first
   found: bands in order, each bucket's kept rows in the order they were kept.

The work splits into blocks (issue 12: Ray Data's ``map_batches`` runs the first part, the
driver the rest), and gives the same result whatever the block boundaries or their order:

- :func:`hash_block` (per block): a block's texts and global row ids (int64, the row's
  position in the source order) -> signatures and band keys. A row's values depend on its
  text only.
- :func:`candidate_components` (across blocks): from every block's (band, key, row id)
  triples, the rows that share a band key with another row, grouped into connected components
  (a vectorized union-find). A row in no shared bucket is never a near-duplicate, and a row's
  decision depends on its own component only.
- :func:`decide_components` (per component): step 4 within each component, in row-id order.

:func:`near_duplicates` is one block; :func:`near_duplicates_blocked` takes several.
Everything is vectorized with numpy; the per-component loop (components of three rows or
more) does dictionary lookups only.
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
_ROWS_AT_ONCE = 8192                  # rows shingled at once: a block of a million rows needs no 4 GiB of shingles


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
    """The (rows, num_perm) MinHash signatures of ``texts``, ``_ROWS_AT_ONCE`` rows at a time (a row's
    signature is its own: slicing only bounds the shingle arrays, which take ~40 bytes a character)."""
    out = np.empty((len(texts), num_perm), dtype=np.uint64)
    multipliers = odd_constants("minhash", num_perm)
    budget = max(_CHUNK_ELEMENTS // num_perm, 1)    # shingles per chunk: the products stay in cache
    buffer = np.empty((num_perm, budget), dtype=np.uint64)
    for at in range(0, len(texts), _ROWS_AT_ONCE):
        part = texts[at: at + _ROWS_AT_ONCE]
        shingles, run_starts = shingle_hashes([normalize(t) for t in part], k)
        run_ends = np.append(run_starts[1:], len(shingles))
        first = 0
        while first < len(part):
            last = max(int(np.searchsorted(run_ends, run_starts[first] + budget, side="right")), first + 1)
            lo, hi = int(run_starts[first]), int(run_ends[last - 1])
            products = buffer[:, : hi - lo] if hi - lo <= budget else np.empty((num_perm, hi - lo), dtype=np.uint64)
            np.multiply(multipliers[:, None], shingles[None, lo:hi], out=products)   # wraps mod 2**64: the hash family
            out[at + first: at + last] = np.minimum.reduceat(products, run_starts[first:last] - lo, axis=1).T
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


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (row, band): a mixed weighted sum of the band's values."""
    weights = odd_constants("band", rows)
    keys = np.empty((len(sig), bands), dtype=np.uint64)
    for band in range(bands):
        block = sig[:, band * rows:(band + 1) * rows] * weights
        keys[:, band] = _mix(block.sum(axis=1, dtype=np.uint64) + np.uint64(band))
    return keys


@dataclass(frozen=True)
class BlockHashes:
    """What the per-block step returns: each row's global id, MinHash signature and LSH band keys."""

    ids: np.ndarray          # (rows,) int64: the row's position in the source order
    signatures: np.ndarray   # (rows, num_perm) uint64
    keys: np.ndarray         # (rows, bands) uint64

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The block's (band, key, row id) triples, flat: what the cross-block candidate step reads."""
        rows, bands = self.keys.shape
        return (np.tile(np.arange(bands, dtype=np.int64), rows), self.keys.reshape(-1),
                np.repeat(self.ids, bands))


def hash_block(ids: np.ndarray, texts: list[str], params: MinHashLSH) -> BlockHashes:
    """The per-block step: signatures and band keys of ``texts``, whose global row ids are ``ids``.

    A row's values depend on its text only, never on the block it sits in or its neighbours."""
    ids = np.asarray(ids, dtype=np.int64)
    assert ids.shape == (len(texts),), "one id per text"
    sig = signatures(texts, params.num_perm, params.shingle_size)
    return BlockHashes(ids, sig, band_keys(sig, params.bands, params.rows_per_band))


def candidate_components(bands: np.ndarray, keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cross-block candidate step: from all blocks' (band, key, row id) triples, the rows that share a
    band key with another row, grouped into the connected components of "shares a band key".

    Returns ``(members, starts)``: the member ids, component after component (each component in ascending
    id order, components ordered by their smallest id), and where each component starts in ``members``.
    Rows in no shared bucket appear nowhere: they are never near-duplicates."""
    edges = [bucket_edges(keys[bands == band], ids[bands == band]) for band in np.unique(bands)]
    return components(np.concatenate([e[0] for e in edges] or [np.zeros(0, dtype=np.int64)]),
                      np.concatenate([e[1] for e in edges] or [np.zeros(0, dtype=np.int64)]))


def bucket_edges(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One band's edges: each row id linked to the next one in its bucket (equal key), both in id order. A band's
    keys of every row are all it needs, so a streaming pass holds one band at a time, not the whole LSH table."""
    order = np.lexsort((ids, keys))
    k, r = keys[order], ids[order]
    linked = k[1:] == k[:-1]
    return r[:-1][linked], r[1:][linked]


def components(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(members, starts)`` of the connected components of the edges ``left[i] - right[i]``, as
    :func:`candidate_components` returns them."""
    if len(left) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    nodes, inverse = np.unique(np.concatenate([left, right]), return_inverse=True)
    u, v = inverse[: len(left)], inverse[len(left):]
    root = _union_find(len(nodes), u, v)
    grouped = np.argsort(root, kind="stable")          # nodes ascend, so each component stays in id order
    members, root = nodes[grouped], root[grouped]
    starts = np.flatnonzero(np.r_[True, root[1:] != root[:-1]])
    return members, starts


def _union_find(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each node's component root (its smallest node), by vectorized hooking and pointer jumping."""
    parent = np.arange(n, dtype=np.int64)
    while True:
        pu, pv = parent[u], parent[v]
        differ = pu != pv
        if not differ.any():
            return parent
        pu, pv = pu[differ], pv[differ]
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))   # hook the larger root under the smaller
        while True:                                                     # jump until every node points at a root
            grand = parent[parent]
            if (grand == parent).all():
                break
            parent = grand


def decide_components(members: np.ndarray, starts: np.ndarray, sig: np.ndarray, keys: np.ndarray,
                      params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """The per-component decision: for each dropped row id, the kept row id it resembles and their estimate.

    ``sig`` and ``keys`` are aligned with ``members``. Within a component rows are visited in id order;
    a row is dropped when an earlier kept row sharing a band key with it has estimated Jaccard
    ``>= threshold``; the match is the first found over bands in order, each bucket's kept rows in
    id order (the order they were kept in). A component's first row is always kept, so a component
    of two is one vectorized comparison."""
    sizes = np.diff(np.append(starts, len(members)))
    dropped: dict[int, tuple[int, float]] = {}
    first = starts[sizes == 2]
    similarity = np.count_nonzero(sig[first] == sig[first + 1], axis=1) / params.num_perm
    hit = similarity >= params.threshold
    dropped.update(zip(members[first + 1][hit].tolist(), zip(members[first][hit].tolist(), similarity[hit].tolist())))
    for start, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist()):
        dropped.update(_decide_one(members[start:start + size].tolist(), sig[start:start + size],
                                   keys[start:start + size].tolist(), params))
    return dict(sorted(dropped.items()))


def _decide_one(ids: list[int], sig: np.ndarray, keys: list[list[int]],
                params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """One component, rows in id order: keep a row unless an earlier kept row in one of its buckets matches."""
    buckets: list[dict[int, list[int]]] = [{} for _ in range(params.bands)]
    dropped: dict[int, tuple[int, float]] = {}
    for i, row_keys in enumerate(keys):
        match = _first_match(i, row_keys, buckets, sig, params)
        if match:
            dropped[ids[i]] = (ids[match[0]], match[1])
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


def near_duplicates_hashed(blocks: list[BlockHashes], params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """The driver's part, given every block's hashes in any order: candidates, components, decisions."""
    if not blocks:
        return {}
    ids = np.concatenate([block.ids for block in blocks])
    assert len(np.unique(ids)) == len(ids), "a row id appears twice"
    triples = [block.triples() for block in blocks]
    members, starts = candidate_components(*(np.concatenate(part) for part in zip(*triples)))
    picked = [np.isin(block.ids, members) for block in blocks]   # only candidates' hashes are gathered
    found = np.concatenate([block.ids[p] for block, p in zip(blocks, picked)])
    order = np.argsort(found)
    at = order[np.searchsorted(found[order], members)]
    sig = np.concatenate([block.signatures[p] for block, p in zip(blocks, picked)])[at]
    keys = np.concatenate([block.keys[p] for block, p in zip(blocks, picked)])[at]
    return decide_components(members, starts, sig, keys, params)


def near_duplicates_blocked(blocks: list[tuple[np.ndarray, list[str]]],
                            params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """:func:`near_duplicates` over blocks of ``(row ids, texts)``: the same result whatever the blocks."""
    return near_duplicates_hashed([hash_block(ids, texts, params) for ids, texts in blocks], params)


def near_duplicates(texts: list[str], params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """For each dropped row, the earlier kept row it resembles and their estimated Jaccard similarity."""
    return near_duplicates_blocked([(np.arange(len(texts), dtype=np.int64), texts)], params)


def near_dedup(table: Table, column: str, threshold: float, num_perm: int, shingle_size: int,
               examples: int = 5) -> tuple[Table, TransformReport]:
    bands, rows = lsh_bands(threshold, num_perm)
    params = MinHashLSH(threshold, num_perm, shingle_size, bands, rows)
    ids = [i for i, row in enumerate(table.rows) if row[column] is not None]  # a null is kept, and compared with none
    dropped = near_duplicates_blocked([(np.array(ids, dtype=np.int64), [table.rows[i][column] for i in ids])], params)
    result = table.take(i for i in range(len(table)) if i not in dropped)
    shown = list(dropped.items())[:examples]
    return result, near_dedup_report(column, params, len(table), len(result),
                                     [(table.origins[i], table.origins[j], s) for i, (j, s) in shown],
                                     len({j for j, _ in dropped.values()}))


def near_dedup_report(column: str, params: MinHashLSH, rows_in: int, rows_out: int,
                      examples: list[tuple[str, str, float]], clusters: int) -> TransformReport:
    """A near_dedup's report.json entry; ``examples``: (removed row's origin, kept row's origin, similarity);
    ``clusters``: the kept rows that at least one dropped row resembled."""
    details = {
        "algorithm": f"MinHash ({params.num_perm} hashes over {params.shingle_size}-character shingles) with LSH banding "
                     f"({params.bands} bands x {params.rows_per_band} rows); similarity is estimated Jaccard",
        "bands": params.bands, "rows_per_band": params.rows_per_band, "clusters": clusters,
        "examples": [{"removed": removed, "kept": kept, "similarity": round(s, 4)} for removed, kept, s in examples],
    }
    return TransformReport("near_dedup", {"column": column, "threshold": params.threshold, "num_perm": params.num_perm,
                                          "shingle_size": params.shingle_size}, rows_in, rows_out, details)
