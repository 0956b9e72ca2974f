"""Exact deduplication: the first row of each group of equal values is kept."""

from __future__ import annotations

import orjson

from runners.data.table import Table, TransformReport

_SCALAR = {"string", "int", "float", "bool"}


def _json_key(row: dict, columns: list[str]) -> bytes:
    """A hashable key for the row's values in ``columns`` (lists and objects included)."""
    return orjson.dumps([row[c] for c in columns])


def exact_dedup(table: Table, columns: list[str]) -> tuple[Table, TransformReport]:
    """Drop every row whose values in ``columns`` equal an earlier row's; comparison is exact (no normalization)."""
    seen: set[object] = set()
    keep: list[int] = []
    scalar = all(table.columns[c] in _SCALAR for c in columns)      # then the values themselves are the key
    for i, row in enumerate(table.rows):
        key = tuple([row[c] for c in columns]) if scalar else _json_key(row, columns)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    result = table.take(keep)
    return result, TransformReport("dedup", {"columns": list(columns)}, len(table), len(result))
