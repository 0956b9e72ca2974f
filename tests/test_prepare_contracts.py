"""Data contracts end to end: declared types and nullability checked as rows are read, every bad row located.

Through runners.steps.prepare.run with a real StepContext over real jsonl, csv and parquet files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.step import NodeFailed
from runners.steps.prepare import run
from tests.test_prepare import context, lines

pytestmark = pytest.mark.slow


def spec(source: str, columns: str, *, fmt: str = "jsonl", on_error: str | None = None, transforms: str = "[]") -> str:
    return f"""
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {{name: d}}
        spec:
          source: {{path: data/{source}}}
          format: {fmt}
          columns: {columns}
          transforms: {transforms}
          {f"on_error: {on_error}" if on_error else ""}
        """


GOOD = '{"text": "fine", "n": 1, "note": "x"}\n'
BAD_JSONL = (
    GOOD                                                      # 1
    + '{"text": "a", "n": "2", "note": "x"}\n'                # 2: wrong type
    + '{"text": null, "n": 3, "note": "x"}\n'                 # 3: null in a column not declared nullable
    + GOOD                                                    # 4
    + '{"text": "b", "note": "x"}\n'                          # 5: a column missing
    + '{"text": "c", "n": 4, "note": null}\n'                 # 6: null where nullable: kept
    + '{"text": "d", "n": 5,\n'                               # 7: a truncated line
    + '["not", "an", "object"]\n'                             # 8
    + GOOD                                                    # 9
)
JSONL_COLUMNS = "{text: string, n: int, note: {type: string, nullable: true}}"


def failure(root: Path, out: Path) -> NodeFailed:
    with pytest.raises(NodeFailed) as failed:
        run(context(root, "d", out))
    assert not failed.value.retryable and failed.value.hint
    return failed.value


def test_fail_lists_every_bad_jsonl_row_at_its_line(project, tmp_path):
    root = project({"data/d.jsonl": BAD_JSONL, "d.yaml": spec("d.jsonl", JSONL_COLUMNS)})
    error = failure(root, tmp_path / "out")
    assert error.message.splitlines() == [
        "5 rows break the declared columns:",
        "  data/d.jsonl:2: column 'n' is str '2', expected int",
        "  data/d.jsonl:3: column 'text' is null, expected string",
        "  data/d.jsonl:5: the row has no column 'n' (it has: text, note)",
        "  data/d.jsonl:7: not valid JSON: unexpected end of data: line 1 column 22 (char 21)",
        "  data/d.jsonl:8: expected a JSON object, found list",
    ]
    assert "nullable: true" in error.hint and "on_error: {action: skip" in error.hint
    assert not (tmp_path / "out").exists()


def test_fail_shows_the_first_n_and_counts_the_rest(project, tmp_path):
    bad = "".join(f'{{"text": "t{i}", "n": "x"}}\n' for i in range(30))
    root = project({"data/d.jsonl": GOOD + bad, "d.yaml": spec("d.jsonl", "{text: string, n: int}")})
    shown = failure(root, tmp_path / "a").message.splitlines()
    assert shown[0] == "30 rows break the declared columns:" and len(shown) == 1 + 20 + 1
    assert shown[1] == "  data/d.jsonl:2: column 'n' is str 'x', expected int" and shown[-1] == "  ... and 10 more"

    root = project({"data/d.jsonl": GOOD + bad, "d.yaml": spec("d.jsonl", "{text: string, n: int}", on_error="{show: 3}")})
    assert failure(root, tmp_path / "b").message.splitlines()[1:] == [
        "  data/d.jsonl:2: column 'n' is str 'x', expected int", "  data/d.jsonl:3: column 'n' is str 'x', expected int",
        "  data/d.jsonl:4: column 'n' is str 'x', expected int", "  ... and 27 more"]


def test_one_bad_row_reads_as_it_always_did(project, tmp_path):
    root = project({"data/d.jsonl": GOOD + '{"text": null, "n": 1}\n', "d.yaml": spec("d.jsonl", "{text: string, n: int}")})
    error = failure(root, tmp_path / "out")
    assert error.message == "data/d.jsonl:2: column 'text' is null, expected string"
    assert error.hint == "fix the row, or declare the column nullable (columns: {text: {type: string, nullable: true}})"


CSV = (
    "text,n,score\n"
    "fine,1,0.5\n"          # 2
    "a,two,0.5\n"           # 3: wrong type
    ",3,\n"                 # 4: an empty score: not nullable, so an error (an empty text is an empty string)
    "b,4,0.1,extra\n"       # 5: a field too many
    '"multi\nline",x,y\n'   # 6-7: the record starts at line 6
    "c,5,0.2\n"             # 8
)


def test_fail_lists_bad_csv_rows_at_their_lines(project, tmp_path):
    root = project({"data/d.csv": CSV, "d.yaml": spec("d.csv", "{text: string, n: int, score: float}", fmt="csv",
                                                     on_error="{action: fail, show: 3}")})
    assert failure(root, tmp_path / "out").message.splitlines() == [
        "4 rows break the declared columns:",
        "  data/d.csv:3: column 'n' is 'two', expected int",
        "  data/d.csv:4: column 'score' is empty, expected float",
        "  data/d.csv:5: 4 fields, the header has 3",
        "  ... and 1 more",
    ]


def test_skip_drops_csv_rows_and_reads_an_empty_nullable_cell_as_null(project, tmp_path):
    root = project({"data/d.csv": CSV, "d.yaml": spec("d.csv", "{text: string, n: int, score: {type: float, nullable: true}}",
                                                     fmt="csv", on_error="{action: skip, max_skipped: 3}")})
    result = run(context(root, "d", tmp_path / "out"))
    assert lines(tmp_path / "out" / "all.jsonl") == [{"text": "fine", "n": 1, "score": 0.5}, {"text": "", "n": 3, "score": None},
                                                     {"text": "c", "n": 5, "score": 0.2}]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rejected"]["count"] == 3 == result.metrics["rows_rejected"]
    assert [r["at"] for r in report["rejected"]["rows"]] == ["data/d.csv:3", "data/d.csv:5", "data/d.csv:6"]
    assert report["columns"]["score"] | {"min": 0} == {"type": "float", "nullable": True, "nulls": 1, "min": 0, "max": 0.5,
                                                       "mean": 0.35, "distinct": 2, "values": {"0.2": 1, "0.5": 1}}


def test_skip_drops_counts_and_lists_bad_rows_in_the_report(project, tmp_path):
    root = project({"data/d.jsonl": BAD_JSONL,
                    "d.yaml": spec("d.jsonl", JSONL_COLUMNS, on_error="{action: skip, max_skipped: 5, show: 4}")})
    result = run(context(root, "d", tmp_path / "out"))
    rows = lines(tmp_path / "out" / "all.jsonl")
    assert rows == [{"text": "fine", "n": 1, "note": "x"}] * 2 + [{"text": "c", "n": 4, "note": None}] + [
        {"text": "fine", "n": 1, "note": "x"}]
    assert (tmp_path / "out" / "all.jsonl").read_text().splitlines()[2] == '{"text":"c","n":4,"note":null}'
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rows_in"] == 4 and report["rows_out"] == 4
    assert report["rejected"] == {
        "count": 5, "max_skipped": 5,
        "reasons": {"n: missing": 1, "n: wrong type": 1, "not an object": 1, "not valid JSON": 1, "text: null": 1},
        "rows": [
            {"at": "data/d.jsonl:2", "column": "n", "reason": "wrong type", "detail": "column 'n' is str '2', expected int"},
            {"at": "data/d.jsonl:3", "column": "text", "reason": "null", "detail": "column 'text' is null, expected string"},
            {"at": "data/d.jsonl:5", "column": "n", "reason": "missing",
             "detail": "the row has no column 'n' (it has: text, note)"},
            {"at": "data/d.jsonl:7", "column": None, "reason": "not valid JSON",
             "detail": "not valid JSON: unexpected end of data: line 1 column 22 (char 21)"},
        ],
        "more": 1,
    }
    assert report["columns"]["note"]["nulls"] == 1 and report["columns"]["note"]["distinct"] == 1
    assert "nulls" not in report["columns"]["text"]                      # only nullable columns count them
    assert result.metrics["rows_rejected"] == 5 and result.metrics["rows_in"] == 4
    assert result.summary.startswith("4 rows (5 rejected) -> 4")


def test_more_bad_rows_than_max_skipped_fail_the_node(project, tmp_path):
    root = project({"data/d.jsonl": BAD_JSONL,
                    "d.yaml": spec("d.jsonl", JSONL_COLUMNS, on_error="{action: skip, max_skipped: 2, show: 2}")})
    error = failure(root, tmp_path / "out")
    assert error.message.splitlines() == [
        "more than 2 rows break the declared columns (on_error max_skipped: 2):",
        "  data/d.jsonl:2: column 'n' is str '2', expected int",
        "  data/d.jsonl:3: column 'text' is null, expected string",
        "  ... and 1 more before reading stopped",
    ]
    assert "max_skipped" in error.hint


def parquet_source(root: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"text": ["a", "b", None, "d", "e", None], "n": [1, None, 3, 4, 5, 6],
                      "score": [0.5, 1.5, 2.5, float("nan"), 0.1, 0.2], "tag": ["x", None, "y", "z", None, "w"]})
    (root / "data").mkdir(exist_ok=True)
    pq.write_table(table, root / "data" / "d.parquet", row_group_size=2)


PARQUET_COLUMNS = "{text: string, n: int, score: float, tag: {type: string, nullable: true}}"


def test_parquet_bad_rows_are_located_by_row_group_and_row(project, tmp_path):
    root = project({"d.yaml": spec("d.parquet", PARQUET_COLUMNS, fmt="parquet")})
    parquet_source(root)
    error = failure(root, tmp_path / "out")
    assert error.message.splitlines() == [
        "4 rows break the declared columns:",
        "  data/d.parquet: row group 0, row 1: column 'n' is null, expected int",
        "  data/d.parquet: row group 1, row 0: column 'text' is null, expected string",
        "  data/d.parquet: row group 1, row 1: column 'score' is nan, expected a finite float",
        "  data/d.parquet: row group 2, row 1: column 'text' is null, expected string",
    ]


def test_parquet_skip_keeps_nullable_nulls_and_names_rejected_rows(project, tmp_path):
    root = project({"d.yaml": spec("d.parquet", PARQUET_COLUMNS, fmt="parquet", on_error="{action: skip, max_skipped: 4}",
                                   transforms="[{pii_redact: {columns: [tag]}}, {length: {column: tag, min_chars: 1}}]")})
    parquet_source(root)
    run(context(root, "d", tmp_path / "out"))
    assert lines(tmp_path / "out" / "all.jsonl") == [{"text": "a", "n": 1, "score": 0.5, "tag": "x"},
                                                     {"text": "e", "n": 5, "score": 0.1, "tag": None}]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["at"] for r in report["rejected"]["rows"]] == [
        "data/d.parquet: row group 0, row 1", "data/d.parquet: row group 1, row 0",
        "data/d.parquet: row group 1, row 1", "data/d.parquet: row group 2, row 1"]
    assert report["source"]["files"] == [{"file": "data/d.parquet", "rows": 2}]


def test_structural_errors_still_fail_at_once(project, tmp_path):
    root = project({"data/d.csv": "txt,n\na,1\n", "d.yaml": spec("d.csv", "{text: string, n: int}", fmt="csv",
                                                                 on_error="{action: skip, max_skipped: 100}")})
    assert failure(root, tmp_path / "a").message == "data/d.csv:1: the header has no column 'text' (it has: txt, n)"
    root = project({"data/d.jsonl": "", "d.yaml": spec("d.jsonl", "{text: string}", on_error="{action: skip, max_skipped: 100}")})
    (root / "data" / "d.jsonl").write_bytes(b'{"text": "a"}\n{"text": "caf\xe9"}\n')
    assert failure(root, tmp_path / "b").message.startswith("data/d.jsonl:2: not UTF-8")
