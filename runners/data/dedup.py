"""Exact deduplication: the first row of each group of equal values is kept.

In one table (:func:`exact_dedup`) or streamed in blocks (:func:`dedup_keys` per block, then
:func:`first_occurrences` over every block's keys): a row's key is a 128-bit BLAKE2b digest of
its values, so the pass keeps 24 bytes a row (key and id), not the rows. Both give the same rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import orjson

from runners.data.table import Table, TransformReport

_SCALAR = {"string", "int", "float", "bool"}
EXAMPLES = 5  # drops a report shows, with the row each repeats


def _json_key(row: dict, columns: list[str]) -> bytes:
    """A hashable key for the row's values in ``columns`` (lists and objects included)."""
    return orjson.dumps([row[c] for c in columns])


def _key_bytes(table: Table, columns: list[str]) -> list[bytes]:
    """Each row's values in ``columns`` as bytes that are equal exactly when the values are.

    Scalar columns compare as Python compares them, where 0.0 equals -0.0 (float columns hold floats
    only, so nothing else differs from JSON's spelling); any list or json column makes the whole key JSON.
    """
    if not all(table.columns[c] in _SCALAR for c in columns):
        return [_json_key(row, columns) for row in table.rows]
    floats = [c for c in columns if table.columns[c] == "float"]
    if not floats:
        return [_json_key(row, columns) for row in table.rows]
    return [orjson.dumps([row[c] + 0.0 if c in floats and row[c] is not None else row[c] for c in columns])
            for row in table.rows]


def dedup_keys(table: Table, columns: list[str]) -> np.ndarray:
    """The per-block step: each row's key as two uint64 (a 128-bit digest of ``_key_bytes``), shape (rows, 2)."""
    digests = b"".join(hashlib.blake2b(key, digest_size=16).digest() for key in _key_bytes(table, columns))
    return np.frombuffer(digests, dtype=np.uint64).reshape(-1, 2) if digests else np.zeros((0, 2), dtype=np.uint64)


def first_occurrences(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows to drop, whatever the blocks: every row whose key an earlier row (smaller id) has, as
    ``(dropped ids, the id each one repeats)``, in dropped-id order."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort((ids, keys[:, 1], keys[:, 0]))
    k0, k1, sorted_ids = keys[order, 0], keys[order, 1], ids[order]
    repeat = np.r_[False, (k0[1:] == k0[:-1]) & (k1[1:] == k1[:-1])]
    first = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(ids))))  # each row's run starts at its first
    dropped, kept = sorted_ids[repeat], sorted_ids[first][repeat]
    by_id = np.argsort(dropped, kind="stable")
    return dropped[by_id], kept[by_id]


def dedup_report(columns: list[str], rows_in: int, dropped: np.ndarray, kept: np.ndarray, origins: dict[int, str],
                 examples: int = EXAMPLES) -> TransformReport:
    """A dedup's report.json entry: how many groups of equal rows it found, and the first ``examples`` drops
    (``origins``: the origin of at least those rows and the rows they repeat)."""
    details = {"clusters": int(len(np.unique(kept))),
               "examples": [{"removed": origins[i], "kept": origins[j]} for i, j in zip(dropped[:examples].tolist(),
                                                                                        kept[:examples].tolist())]}
    return TransformReport("dedup", {"columns": list(columns)}, rows_in, rows_in - len(dropped), details)


def exact_dedup(table: Table, columns: list[str]) -> tuple[Table, TransformReport]:
    """Drop every row whose values in ``columns`` equal an earlier row's; comparison is exact (no normalization)."""
    dropped, kept = first_occurrences(dedup_keys(table, columns), np.arange(len(table), dtype=np.int64))
    gone = set(dropped.tolist())
    result = table.take(i for i in range(len(table)) if i not in gone)
    return result, dedup_report(columns, len(table), dropped, kept, dict(enumerate(table.origins)))
