"""Readers: every format, a file or a folder, and bad rows reported at file:line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from runners.data.contract import Contract
from runners.data.readers import read_table, source_files
from runners.step import NodeFailed

COLUMNS = {"text": "string", "n": "int", "score": "float", "ok": "bool", "tags": "list", "meta": "json"}
ROWS = [
    {"text": "héllo, \"world\"", "n": 1, "score": 0.5, "ok": True, "tags": ["a"], "meta": {"k": 1}},
    {"text": "second\u2028line", "n": -2, "score": 3.0, "ok": False, "tags": [], "meta": None},
]


def read(root: Path, written: str, fmt: str, columns=COLUMNS):
    return read_table(source_files(root, written, fmt), fmt, columns, root)


def write(root: Path, name: str, content: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_jsonl_rows_keep_column_order_drop_undeclared_columns_and_know_their_line(tmp_path):
    lines = [json.dumps({**r, "extra": 1}) for r in ROWS]
    write(tmp_path, "d.jsonl", lines[0] + "\n\n" + json.dumps(dict(reversed(list(json.loads(lines[1]).items())))) + "\n")
    table = read(tmp_path, "d.jsonl", "jsonl")
    assert table.rows == ROWS and [list(r) for r in table.rows] == [list(COLUMNS)] * 2
    assert table.origins == ["d.jsonl:1", "d.jsonl:3"]


def test_csv_cells_are_parsed_to_the_declared_types(tmp_path):
    write(tmp_path, "d.csv", 'text,n,score,ok,tags,meta\n"héllo, ""world""",1,0.5,true,"[""a""]","{""k"": 1}"\n'
                             '"second\u2028line",-2,3,no,[],null\n')
    table = read(tmp_path, "d.csv", "csv")
    assert table.rows == ROWS and table.origins == ["d.csv:2", "d.csv:3"]


def test_text_files_give_one_row_per_non_empty_line(tmp_path):
    write(tmp_path, "corpus/b.txt", "third\n")
    write(tmp_path, "corpus/a.txt", "first\r\n\nsecond\n")
    write(tmp_path, "corpus/.hidden/c.txt", "never\n")
    write(tmp_path, "corpus/notes.md", "never\n")
    table = read(tmp_path, "corpus", "text", {"text": "string"})
    assert [r["text"] for r in table.rows] == ["first", "second", "third"]
    assert table.origins == ["corpus/a.txt:1", "corpus/a.txt:3", "corpus/b.txt:1"]
    with pytest.raises(NodeFailed, match="a text source has one column, text"):
        read(tmp_path, "corpus", "text", {"text": "string", "label": "string"})


def test_parquet_is_read_when_pyarrow_is_there(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    data = {c: [r[c] for r in ROWS] for c in COLUMNS if c != "meta"}
    pq.write_table(pa.table({**data, "extra": [1, 2]}), tmp_path / "d.parquet")
    columns = {c: t for c, t in COLUMNS.items() if c != "meta"}
    table = read(tmp_path, "d.parquet", "parquet", columns)
    assert table.rows == [{c: r[c] for c in columns} for r in ROWS]
    assert table.origins == ["d.parquet: row group 0, row 0", "d.parquet: row group 0, row 1"]
    with pytest.raises(NodeFailed, match=r"d.parquet: the parquet schema has no column 'meta'"):
        read(tmp_path, "d.parquet", "parquet")


def test_a_parquet_row_group_longer_than_a_batch_counts_its_rows_across_batches(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = 70_000  # one row group of more rows than pyarrow's batch (65,536): it is streamed in two batches
    n = pa.array([*range(rows - 1), None])
    pq.write_table(pa.table({"n": n}), tmp_path / "d.parquet", row_group_size=rows)
    assert pq.ParquetFile(tmp_path / "d.parquet").num_row_groups == 1
    with pytest.raises(NodeFailed, match=rf"d.parquet: row group 0, row {rows - 1}: column 'n' is null"):
        read(tmp_path, "d.parquet", "parquet", {"n": "int"})


@pytest.mark.parametrize(("name", "content", "message"), [
    ("d.jsonl", '{"text": "a", "n": 1}\n{"text": "b", "n": "2"}\n', r"d.jsonl:2: column 'n' is str '2', expected int"),
    ("d.jsonl", '{"text": "a", "n": true}\n', r"d.jsonl:1: column 'n' is bool True, expected int"),
    ("d.jsonl", '{"text": "a"}\n', r"d.jsonl:1: the row has no column 'n' \(it has: text\)"),
    ("d.jsonl", '{"text": null, "n": 1}\n', r"d.jsonl:1: column 'text' is null, expected string"),
    ("d.jsonl", '{"text": "a", "n": 1}\n{"text": "b", n: 2}\n', r"d.jsonl:2: not valid JSON"),
    ("d.jsonl", '["a", 1]\n', r"d.jsonl:1: expected a JSON object, found list"),
    ("d.csv", "text,n\na,1\nb,x\n", r"d.csv:3: column 'n' is 'x', expected int"),
    ("d.csv", "text,n\na,1\nb,\n", r"d.csv:3: column 'n' is empty, expected int"),
    ("d.csv", 'text,n\n"multi\nline",1\nb,2,3\n', r"d.csv:4: 3 fields, the header has 2"),
    ("d.csv", "txt,n\na,1\n", r"d.csv:1: the header has no column 'text' \(it has: txt, n\)"),
])
def test_bad_rows_are_located(tmp_path, name, content, message):
    write(tmp_path, name, content)
    with pytest.raises(NodeFailed, match=message):
        read(tmp_path, name, name.rsplit(".", 1)[1], {"text": "string", "n": "int"})


def test_a_contract_collects_bad_rows_across_files_and_keeps_nullable_nulls(tmp_path):
    write(tmp_path, "data/a.jsonl", '{"text": "a", "n": null}\n{"text": 1, "n": 2}\n')
    write(tmp_path, "data/b.csv", "text,n\nb,\n,x\n")
    contract = Contract({"text": "string", "n": "int"}, frozenset({"n"}), action="skip", max_skipped=5, show=5)
    jsonl = read_table(source_files(tmp_path, "data", "jsonl"), "jsonl", {"text": "string", "n": "int"}, tmp_path,
                       contract=contract)
    csv_rows = read_table(source_files(tmp_path, "data", "csv"), "csv", {"text": "string", "n": "int"}, tmp_path,
                          contract=contract)
    assert jsonl.rows == [{"text": "a", "n": None}] and csv_rows.rows == [{"text": "b", "n": None}]
    assert [r.line() for r in contract.shown] == ["data/a.jsonl:2: column 'text' is int 1, expected string",
                                                  "data/b.csv:3: column 'n' is 'x', expected int"]
    assert contract.report()["reasons"] == {"n: wrong type": 1, "text: wrong type": 1}


def test_non_utf8_is_located(tmp_path):
    write(tmp_path, "d.jsonl", b'{"text": "a"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(NodeFailed, match=r"d.jsonl:2: not UTF-8"):
        read(tmp_path, "d.jsonl", "jsonl", {"text": "string"})


def test_missing_and_escaping_sources_say_what_to_do(tmp_path):
    with pytest.raises(NodeFailed, match="does not exist") as missing:
        source_files(tmp_path, "data/x.jsonl", "jsonl")
    assert "fix source.path" in missing.value.hint
    write(tmp_path, "data/y.jsonl.dvc", "outs: []\n")
    with pytest.raises(NodeFailed) as tracked:
        source_files(tmp_path, "data/y.jsonl", "jsonl")
    assert "llmops pull" in tracked.value.hint
    with pytest.raises(NodeFailed, match="outside the project"):
        source_files(tmp_path, "../elsewhere.jsonl", "jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NodeFailed, match="holds no csv files"):
        source_files(tmp_path, "empty", "csv")


def test_parquet_without_pyarrow_says_how_to_get_it(tmp_path, monkeypatch):
    write(tmp_path, "d.parquet", b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)      # as if not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(NodeFailed, match="reading parquet needs pyarrow") as failed:
        read(tmp_path, "d.parquet", "parquet", {"text": "string"})
    assert "pip install pyarrow" in failed.value.hint
