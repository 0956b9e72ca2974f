"""Row filters: a CEL expression (the same language as policies) and length limits."""

from __future__ import annotations

from compiler.cel import compile_unchecked, evaluate_data
from runners.data.table import Table, TransformReport
from runners.step import NodeFailed


def cel_filter(table: Table, expr: str) -> tuple[Table, TransformReport]:
    """Keep the rows for which ``expr``, with the row's columns as variables, is true.

    The expression is checked against the length and nesting caps and compiled once (by cel-cpp,
    the engine of policies); a result that is not a bool, or an error on a row (a misspelt column,
    a type mismatch, the evaluation budget exceeded), fails the node naming that row.
    """
    try:
        program = compile_unchecked(expr)
    except ValueError as exc:
        raise NodeFailed(f"filter {expr!r} is not valid CEL: {exc}", "fix the expression; `llmops validate` checks it",
                         retryable=False) from None
    keep: list[int] = []
    for i, row in enumerate(table.rows):
        verdict, error = evaluate_data(program, row)
        if error is not None:
            raise NodeFailed(f"{table.origins[i]}: filter {expr!r} failed on this row: {error}",
                             f"the row's variables are its columns: {', '.join(table.columns)}", retryable=False) from None
        if not isinstance(verdict, bool):
            raise NodeFailed(f"{table.origins[i]}: filter {expr!r} gave {type(verdict).__name__} {verdict!r}, not a bool",
                             "write a condition, e.g. size(text) >= 5", retryable=False)
        if verdict:
            keep.append(i)
    result = table.take(keep)
    return result, TransformReport("filter", {"expr": expr}, len(table), len(result))


def length_limit(table: Table, column: str, min_chars: int | None, max_chars: int | None) -> tuple[Table, TransformReport]:
    """Keep rows whose ``column`` has between ``min_chars`` and ``max_chars`` characters (inclusive), and the
    rows where a nullable column is null (a filter drops those: ``x != null``)."""
    low = min_chars if min_chars is not None else 0
    high = max_chars if max_chars is not None else float("inf")
    keep = [i for i, row in enumerate(table.rows) if row[column] is None or low <= len(row[column]) <= high]
    result = table.take(keep)
    short = sum(1 for row in table.rows if row[column] is not None and len(row[column]) < low)
    report = TransformReport("length", {"column": column, "min_chars": min_chars, "max_chars": max_chars},
                             len(table), len(result), {"too_short": short, "too_long": len(table) - len(result) - short})
    return result, report
