"""Exact dedup, CEL filters and length limits: pure functions over a Table."""

from __future__ import annotations

import pytest

from llmops_spec.dataset import Transform
from runners.data.dedup import exact_dedup
from runners.data.filters import cel_filter, length_limit
from runners.data.pipeline import check_transforms, run_transforms
from runners.data.table import Table
from runners.step import NodeFailed

COLUMNS = {"text": "string", "label": "string", "n": "int", "tags": "list"}


def table_of(*rows: dict) -> Table:
    return Table(COLUMNS, list(rows), [f"data.jsonl:{i + 1}" for i in range(len(rows))])


def row(text: str, label: str = "a", n: int = 1, tags=None) -> dict:
    return {"text": text, "label": label, "n": n, "tags": tags or []}


def test_exact_dedup_keeps_the_first_of_equal_values_in_the_named_columns():
    table = table_of(row("x", "a"), row("x", "b"), row("y", "a"), row("x", "a", tags=[1]), row("y", "a"))
    out, report = exact_dedup(table, ["text"])
    assert [r["label"] for r in out.rows] == ["a", "a"] and out.origins == ["data.jsonl:1", "data.jsonl:3"]
    assert (report.rows_in, report.rows_out, report.removed) == (5, 2, 3)
    out, _ = exact_dedup(table, ["text", "label", "tags"])      # lists compare by value
    assert out.origins == ["data.jsonl:1", "data.jsonl:2", "data.jsonl:3", "data.jsonl:4"]


def test_exact_dedup_is_exact():
    out, _ = exact_dedup(table_of(row("Hello"), row("hello"), row("hello ")), ["text"])
    assert len(out) == 3


def test_cel_filter_sees_the_columns_as_variables():
    table = table_of(row("short", n=1), row("a longer text", n=5), row("a longer text", "spam", n=9, tags=["x"]))
    out, report = cel_filter(table, 'size(text) > 5 && label != "spam"')
    assert out.origins == ["data.jsonl:2"] and report.removed == 2
    out, _ = cel_filter(table, "n >= 5 && size(tags) == 0")
    assert out.origins == ["data.jsonl:2"]


def test_cel_filter_errors_name_the_row():
    with pytest.raises(NodeFailed, match=r"data.jsonl:1: filter .* failed on this row.*lable"):
        cel_filter(table_of(row("x")), 'lable == "a"')
    with pytest.raises(NodeFailed, match=r"data.jsonl:1: .*gave str"):
        cel_filter(table_of(row("x")), "text")
    with pytest.raises(NodeFailed, match=r"data.jsonl:2: .*divide by zero"):
        cel_filter(table_of(row("x", n=2), row("y", n=1)), "10 / (n - 1) > 0")
    with pytest.raises(NodeFailed, match="not valid CEL"):
        cel_filter(table_of(row("x")), "size(text")


def test_length_limit_is_inclusive_and_counts_both_sides():
    table = table_of(row(""), row("abc"), row("abcde"), row("abcdefg"))
    out, report = length_limit(table, "text", 3, 5)
    assert [r["text"] for r in out.rows] == ["abc", "abcde"]
    assert report.details == {"too_short": 1, "too_long": 1}
    assert len(length_limit(table, "text", None, 3)[0]) == 2 and len(length_limit(table, "text", 4, None)[0]) == 2


def transforms(*items: dict) -> list[Transform]:
    return [Transform.model_validate(item) for item in items]


def test_transforms_run_in_the_order_written():
    table = table_of(row("mail a@b.io"), row("mail c@d.io"), row("other"))
    redact_then_dedup = transforms({"pii_redact": {"columns": ["text"], "entities": ["email"]}}, {"dedup": {"columns": ["text"]}})
    dedup_then_redact = list(reversed(redact_then_dedup))
    assert len(run_transforms(table, redact_then_dedup)[0]) == 2
    out, reports = run_transforms(table, dedup_then_redact)
    assert len(out) == 3 and [r.transform for r in reports] == ["dedup", "pii_redact"]


def test_transforms_on_unknown_or_non_text_columns_fail_before_any_work():
    with pytest.raises(NodeFailed, match="'txt', which is not declared"):
        check_transforms(transforms({"dedup": {"columns": ["txt"]}}), COLUMNS)
    with pytest.raises(NodeFailed, match=r"near_dedup\) needs a string column; 'n' is int"):
        check_transforms(transforms({"near_dedup": {"column": "n"}}), COLUMNS)
    check_transforms(transforms({"dedup": {"columns": ["n", "tags"]}}, {"length": {"column": "text", "max_chars": 3}}), COLUMNS)
