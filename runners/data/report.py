"""The data report: per column statistics and per split counts, deterministic like the data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from runners.data.column_stats import ColumnStats, rounded, value_counts, value_keys
from runners.data.table import Row


class ColumnsReport:
    """Every declared column's statistics, gathered block by block (runners/data/column_stats.py)."""

    def __init__(self, columns: dict[str, str], nullable: frozenset[str] = frozenset()) -> None:
        self.stats = {column: ColumnStats(kind, column in nullable) for column, kind in columns.items()}

    def add(self, rows: list[Row]) -> None:
        for column, stats in self.stats.items():
            stats.add([row[column] for row in rows])

    def result(self) -> dict[str, Any]:
        return {column: stats.result() for column, stats in self.stats.items()}


def columns_report(rows: list[Row], columns: dict[str, str], nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    report = ColumnsReport(columns, nullable)
    report.add(rows)
    return report.result()


def split_report(rows: int, n_total: int, fraction: float, stratify_by: str | None,
                 distribution: Counter | None = None) -> dict[str, Any]:
    """One split's entry: its rows, the fraction asked and the one it got, and (stratified) its label counts."""
    entry: dict[str, Any] = {"rows": rows, "fraction": fraction,
                             "actual_fraction": rounded(rows / n_total) if n_total else 0.0}
    if stratify_by:
        entry["stratify_by"] = stratify_by
        entry["distribution"] = value_counts(distribution or Counter())
    return entry


__all__ = ["ColumnsReport", "columns_report", "split_report", "value_keys"]
