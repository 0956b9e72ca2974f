"""A column's statistics, gathered block by block: what report.json says of each column.

Counts, lengths, ranges and means are running sums (in row order, so a mean is the float that
one ``sum`` over the whole column gives). Distinct values are counted by a 64-bit BLAKE2b hash of
each value's text, kept as a sorted numpy array (8 bytes a distinct value; blocks' hashes are
merged into it once they add up to its size, so the merging costs n log n over the column, not a
sort per block), and a column of at most ``TOP_VALUES`` distinct values also gets its value counts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np
import orjson

TOP_VALUES = 20  # a column with at most this many distinct values gets its value counts


def rounded(value: float) -> float:
    return round(value, 4)


def value_keys(values: list[Any]) -> list[str]:
    """Each value as the text report.json counts it by: a string itself, anything else as JSON."""
    return [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]


def value_counts(keys: list[str] | Counter) -> dict[str, int]:
    """Counts by value text, most common first (ties by value)."""
    counts = keys if isinstance(keys, Counter) else Counter(keys)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class ColumnStats:
    """One column's statistics over every block ``add``-ed; ``result`` is its report.json entry."""

    def __init__(self, kind: str, nullable: bool = False) -> None:
        self.kind, self.nullable = kind, nullable
        self.nulls = self.empty = self.count = 0
        self.low: Any = None
        self.high: Any = None
        self.total: Any = 0
        self.hashes = np.zeros(0, dtype=np.uint64)  # sorted, distinct
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.top: Counter[str] | None = Counter()

    def add(self, values: list[Any]) -> None:
        if self.nullable:
            present = [v for v in values if v is not None]
            self.nulls += len(values) - len(present)
            values = present
        if not values:
            return
        measured = None
        if self.kind == "string":
            measured = [len(v) for v in values]
            self.empty += measured.count(0)
        elif self.kind in ("int", "float"):
            measured = values
        elif self.kind == "list":
            measured = [len(v) for v in values]
        if measured is not None:
            low, high = min(measured), max(measured)
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)
            for value in measured:  # one running sum in row order: the mean one sum() over the column gives
                self.total += value
        self.count += len(values)
        keys = value_keys(values)
        digest = b"".join(hashlib.blake2b(key.encode(), digest_size=8).digest() for key in keys)
        self._pending.append(np.unique(np.frombuffer(digest, dtype=np.uint64)))
        self._pending_rows += len(self._pending[-1])
        if self._pending_rows >= max(len(self.hashes), 1 << 16):
            self._merge()
        if self.top is not None:
            self.top.update(keys)
            if len(self.top) > TOP_VALUES:
                self.top = None

    def _merge(self) -> None:
        self.hashes = np.unique(np.concatenate([self.hashes, *self._pending]))
        self._pending, self._pending_rows = [], 0

    def result(self) -> dict[str, Any]:
        self._merge()
        stats: dict[str, Any] = {"type": self.kind}
        if self.nullable:
            stats["nullable"] = True
            stats["nulls"] = self.nulls
        if self.kind == "string":
            stats["empty"] = self.empty
            if self.count:
                stats |= {"min_chars": self.low, "max_chars": self.high, "mean_chars": rounded(self.total / self.count)}
        elif self.kind in ("int", "float") and self.count:
            stats |= {"min": self.low, "max": self.high, "mean": rounded(self.total / self.count)}
        elif self.kind == "list" and self.count:
            stats |= {"min_items": self.low, "max_items": self.high}
        stats["distinct"] = len(self.hashes)
        if self.top is not None:
            stats["values"] = value_counts(self.top)
        return stats
