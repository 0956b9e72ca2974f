"""prepare streams its data in blocks: the files do not depend on the block size, and are what the one-table
prepare wrote (golden md5s, made by the implementation before streaming: tests/test_data_stream/)."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from conftest import write_project

from compiler.compile import compile_project
from llmops_spec import Ref
from runners.step import NodeFailed, StepContext
from runners.steps.prepare import run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from corpus import generate  # noqa: E402  (bench/corpus.py: planted near-duplicates)

pytestmark = pytest.mark.slow

# report.json's md5 as the one-table prepare wrote it, before the dedups reported their duplicate clusters
ONE_TABLE_REPORTS = {"hashed": "241b0c6867970d4b1aba9f265dc9ffce", "stratified": "94b7008e83c71565fca0a1fc6cf10d1f"}

TRANSFORMS = """\
  transforms:
    - dedup: {columns: [text]}
    - pii_redact: {columns: [text]}
    - near_dedup: {column: text, threshold: 0.8, num_perm: 64}
    - filter: {expr: "size(text) > 12"}
    - length: {column: text, max_chars: 400}
"""
DATASETS = {
    "stratified": "splits: {train: 0.8, eval: 0.1, test: 0.05, seed: 3, stratify_by: label}",
    "hashed": "splits: {train: 0.7, eval: 0.3, seed: 9}",
}


def corpus_rows(n: int = 3000) -> str:
    corpus = generate(n, seed=11, threshold=0.8)
    rows = []
    for i, (text, label) in enumerate(zip(corpus.texts, corpus.labels)):
        if i % 97 == 0:
            text = corpus.texts[i // 2]  # exact copies of an earlier row
        if i % 53 == 0:
            text += f" mail me at user{i}@example.com or +1 555 010 {i % 10}{i % 7}00"
        rows.append(json.dumps({"id": i, "text": text, "label": label}))
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    files = {"data/corpus.jsonl": corpus_rows()}
    for name, splits in DATASETS.items():
        files[f"{name}.yaml"] = textwrap.dedent(f"""\
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {{name: {name}}}
            spec:
              source: {{path: data/corpus.jsonl}}
              columns: {{id: int, text: string, label: string}}
              {splits}
            """) + TRANSFORMS
    return write_project(tmp_path_factory.mktemp("stream") / "specs", files)


def prepared(root: Path, name: str, out: Path, block_rows: int | None = None) -> dict[str, str]:
    compilation = compile_project(root, use_cache=False)
    assert compilation.ok, compilation.diagnostics
    spec = compilation.project.get(Ref.parse(f"Dataset/{name}")).spec
    if block_rows is not None:
        spec = spec.model_copy(update={"resources": spec.resources.model_copy(update={"block_rows": block_rows})})
    run(StepContext(root=compilation.project.root, node=f"Dataset/{name}:prepare", step="prepare",
                    resource=f"Dataset/{name}", spec=spec, out=out))
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".prepare-")], "its scratch is removed"
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_the_files_are_the_one_table_prepares_whatever_the_block_size(project, tmp_path, name, data_regression,
                                                                      monkeypatch):
    import runners.steps.prepare as prepare

    whole = prepared(project, name, tmp_path / "whole", 1_000_000)
    data_regression.check(whole)  # what the one-table prepare wrote, before prepare streamed
    monkeypatch.setattr(prepare, "LINES_AT_ONCE", 7)  # split files written a few lines at a time too
    for block_rows in (1, 97, 1000):
        assert prepared(project, name, tmp_path / f"blocks-{block_rows}", block_rows) == whole, block_rows
    report = json.loads((tmp_path / "whole" / "report.json").read_text())
    removed = {t["transform"]: t["removed"] for t in report["transforms"]}
    assert removed["dedup"] and removed["near_dedup"] and report["transforms"][1]["rows_changed"], removed
    dedup, near = report["transforms"][0], report["transforms"][2]
    assert 0 < dedup["clusters"] <= dedup["removed"] and 0 < near["clusters"] <= near["removed"]
    assert [sorted(e) for e in dedup["examples"]] == [["kept", "removed"]] * 5
    for added in (dedup.pop("clusters"), dedup.pop("examples"), near.pop("clusters")):
        assert added
    before = hashlib.md5(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n").hexdigest()
    assert before == ONE_TABLE_REPORTS[name], "without the duplicate clusters, the report the one-table prepare wrote"


def test_a_bad_row_the_reader_has_yet_to_reach_is_told_before_a_transforms_failure(tmp_path):
    """A filter that fails on block 1 and a row breaking the columns in block 3: the row's own failure is the one."""
    rows = [json.dumps({"text": f"row {i}", "n": i}) for i in range(30)] + ['{"text": 5, "n": 1}']
    root = write_project(tmp_path / "specs", {"data/d.jsonl": "\n".join(rows) + "\n", "d.yaml": """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: d}
        spec:
          source: {path: data/d.jsonl}
          columns: {text: string, n: int}
          transforms:
            - filter: {expr: "n / (n - 3) > 0"}
          resources: {block_rows: 10}
        """})
    with pytest.raises(NodeFailed, match=r"data/d.jsonl:31: column 'text' is int 5, expected string"):
        prepared(root, "d", tmp_path / "out")


def test_column_statistics_gathered_block_by_block_are_the_whole_columns():
    """Distinct values merged as blocks add up (several merges here), ranges and means as one pass gives them."""
    import random

    from runners.data.column_stats import ColumnStats

    rng = random.Random(4)
    values = [f"v{rng.randrange(150_000)}" for _ in range(300_000)] + [""] * 3
    stats = ColumnStats("string")
    for start in range(0, len(values), 1000):
        stats.add(values[start:start + 1000])
    whole = ColumnStats("string")
    whole.add(values)
    result = stats.result()
    assert result == whole.result() and result["distinct"] == len(set(values)) and result["empty"] == 3
    few = ColumnStats("int", nullable=True)
    for block in ([1, 2, None], [2, 2], [None]):
        few.add(block)
    assert few.result() == {"type": "int", "nullable": True, "nulls": 2, "min": 1, "max": 2, "mean": 1.75,
                            "distinct": 2, "values": {"2": 3, "1": 1}}
