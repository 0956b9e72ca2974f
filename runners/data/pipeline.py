"""A Dataset's transforms, run in the order written, each reporting what it did."""

from __future__ import annotations

from typing import Any

from runners.data.dedup import exact_dedup
from runners.data.filters import cel_filter, length_limit
from runners.data.near_dedup import near_dedup
from runners.data.pii import pii_redact
from runners.data.table import Table, TransformReport
from runners.step import NodeFailed

_TEXT_ONLY = {"pii_redact": "columns", "near_dedup": "column", "length": "column"}


def check_transforms(transforms: list[Any], columns: dict[str, str]) -> None:
    """Fail before reading any data when a transform names an unknown column or needs text from a non-string one."""
    for position, step in enumerate(transforms, 1):
        kind = step.choice
        body = getattr(step, kind)
        named = list(getattr(body, "columns", None) or []) + ([body.column] if getattr(body, "column", None) else [])
        for column in named:
            if column not in columns:
                raise NodeFailed(f"transform {position} ({kind}) names column '{column}', which is not declared",
                                 f"declared columns: {', '.join(columns)}", retryable=False)
            if kind in _TEXT_ONLY and columns[column] != "string":
                raise NodeFailed(f"transform {position} ({kind}) needs a string column; '{column}' is {columns[column]}",
                                 "apply it to a string column", retryable=False)


def apply_transform(table: Table, step: Any) -> tuple[Table, TransformReport]:
    kind = step.choice
    body = getattr(step, kind)
    if kind == "dedup":
        return exact_dedup(table, list(body.columns))
    if kind == "near_dedup":
        return near_dedup(table, body.column, body.threshold, body.num_perm, body.shingle_size)
    if kind == "pii_redact":
        return pii_redact(table, list(body.columns), list(body.entities), body.replacement)
    if kind == "filter":
        return cel_filter(table, body.expr)
    if kind == "length":
        return length_limit(table, body.column, body.min_chars, body.max_chars)
    raise NodeFailed(f"unknown transform {kind!r}", "this llmops does not know it: upgrade", retryable=False)


def run_transforms(table: Table, transforms: list[Any]) -> tuple[Table, list[TransformReport]]:
    reports: list[TransformReport] = []
    for step in transforms:
        table, report = apply_transform(table, step)
        reports.append(report)
    return table, reports
