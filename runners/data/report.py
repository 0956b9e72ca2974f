"""The data report: per column statistics and per split counts, deterministic like the data."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from runners.data.table import Row

TOP_VALUES = 20  # a column with at most this many distinct values gets its value counts


def _rounded(value: float) -> float:
    return round(value, 4)


def _value_keys(values: list[Any]) -> list[str]:
    return [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]


def value_counts(values: list[Any]) -> dict[str, int]:
    """Counts by value, most common first (ties by value), keyed by the value as text."""
    counts = Counter(_value_keys(values))
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def column_stats(rows: list[Row], column: str, kind: str, nullable: bool = False) -> dict[str, Any]:
    """A column's statistics; a nullable one's count its nulls, and the rest are over its other values."""
    values = [row[column] for row in rows]
    stats: dict[str, Any] = {"type": kind}
    if nullable:
        stats["nullable"] = True
        stats["nulls"] = sum(1 for v in values if v is None)
        values = [v for v in values if v is not None]
    if kind == "string":
        lengths = [len(v) for v in values]
        stats["empty"] = sum(1 for n in lengths if n == 0)
        if lengths:
            stats |= {"min_chars": min(lengths), "max_chars": max(lengths), "mean_chars": _rounded(sum(lengths) / len(lengths))}
    elif kind in ("int", "float") and values:
        stats |= {"min": min(values), "max": max(values), "mean": _rounded(sum(values) / len(values))}
    elif kind == "list" and values:
        sizes = [len(v) for v in values]
        stats |= {"min_items": min(sizes), "max_items": max(sizes)}
    keys = _value_keys(values)
    stats["distinct"] = len(set(keys))
    if stats["distinct"] <= TOP_VALUES:
        stats["values"] = value_counts(keys)
    return stats


def columns_report(rows: list[Row], columns: dict[str, str], nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {column: column_stats(rows, column, kind, column in nullable) for column, kind in columns.items()}


def split_report(rows: list[Row], n_total: int, fraction: float, stratify_by: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"rows": len(rows), "fraction": fraction,
                             "actual_fraction": _rounded(len(rows) / n_total) if n_total else 0.0}
    if stratify_by:
        entry["stratify_by"] = stratify_by
        entry["distribution"] = value_counts([row[stratify_by] for row in rows])
    return entry
