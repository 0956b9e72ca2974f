"""Rows in memory with where each came from, so every later error can name file:line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """Rows whose keys are exactly ``columns``, in that order, plus each row's origin (``file:line``).

    ``ids``: each row's position in the source's order, when the table is one block of a longer stream
    (runners/data/stream.py); a whole table's rows are numbered from 0 (``row_ids``).
    """

    columns: dict[str, str]            # name -> declared type, in declared order
    rows: list[Row]
    origins: list[str]
    ids: list[int] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def row_ids(self) -> list[int] | range:
        return self.ids if self.ids is not None else range(len(self.rows))

    def take(self, indices: Iterable[int]) -> Table:
        picked = list(indices)
        ids = None if self.ids is None else [self.ids[i] for i in picked]
        return Table(self.columns, [self.rows[i] for i in picked], [self.origins[i] for i in picked], ids)

    def with_rows(self, rows: list[Row]) -> Table:
        """The same table with rewritten rows (same length, same order, same origins)."""
        assert len(rows) == len(self.rows)
        return Table(self.columns, rows, self.origins, self.ids)


@dataclass(frozen=True)
class TransformReport:
    """What one transform did: the report.json entry for it."""

    transform: str
    params: dict[str, Any]
    rows_in: int
    rows_out: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return self.rows_in - self.rows_out

    def to_json(self) -> dict[str, Any]:
        return {"transform": self.transform, **self.params, "rows_in": self.rows_in, "rows_out": self.rows_out,
                "removed": self.removed, **self.details}


def row_bytes(row: Row) -> bytes:
    """One output line: keys in column order, UTF-8, no whitespace; the same row always gives the same bytes."""
    return orjson.dumps(row)


def write_jsonl(path: Path, rows: Sequence[Row]) -> None:
    with open(path, "wb") as handle:
        handle.write(b"".join(row_bytes(row) + b"\n" for row in rows))
