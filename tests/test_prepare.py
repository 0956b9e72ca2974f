"""The prepare step end to end: real files in, outputs and report out, byte for byte reproducible."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from pathlib import Path

import pytest

from compiler.compile import compile_project
from llmops_spec import Ref
from runners.step import NodeFailed, StepContext, StepResult
from runners.steps.prepare import run

pytestmark = pytest.mark.slow


def context(root: Path, name: str, out: Path, inputs: dict[str, Path] | None = None) -> StepContext:
    compilation = compile_project(root, use_cache=False)
    assert compilation.ok, compilation.diagnostics
    resource = compilation.project.get(Ref.parse(f"Dataset/{name}"))
    return StepContext(root=compilation.project.root, node=f"Dataset/{name}:prepare", step="prepare",
                       resource=f"Dataset/{name}", spec=resource.spec, out=out, inputs=inputs or {})


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def md5s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_example_dataset_prepares_fast_and_reproducibly(example, tmp_path):
    started = time.perf_counter()
    result = run(context(example, "support-tickets", tmp_path / "a"))
    elapsed = time.perf_counter() - started
    assert isinstance(result, StepResult) and elapsed < 2.0                # ~0.1 s unloaded; slack for a busy machine
    out = tmp_path / "a"
    assert sorted(p.name for p in out.iterdir()) == ["all.jsonl", "eval.jsonl", "report.json", "train.jsonl"]

    rows, train, evaluation = lines(out / "all.jsonl"), lines(out / "train.jsonl"), lines(out / "eval.jsonl")
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids)                                              # source order
    assert {r["id"] for r in train} | {r["id"] for r in evaluation} == set(ids)
    assert not {r["text"] for r in train} & {r["text"] for r in evaluation}   # hash-disjoint on the dedup column
    assert all(list(r) == ["id", "text", "label", "language"] for r in rows)
    assert not any(re.search(r"@|\+1 555", r["text"]) for r in rows)     # emails and phones redacted

    report = json.loads((out / "report.json").read_text())
    steps = [t["transform"] for t in report["transforms"]]
    assert steps == ["dedup", "pii_redact", "near_dedup", "filter"]
    assert report["rows_in"] == 600 == report["transforms"][0]["rows_in"]
    assert report["rows_out"] == len(rows) == report["transforms"][-1]["rows_out"]
    for before, after in zip(report["transforms"], report["transforms"][1:]):
        assert before["rows_out"] == after["rows_in"]
    assert report["transforms"][1]["counts"]["email"] > 0 and report["transforms"][1]["counts"]["phone"] > 0
    assert "MinHash" in report["transforms"][2]["algorithm"]
    outputs = report["splits"]["outputs"]
    assert outputs["eval"]["rows"] == len(evaluation) and sum(outputs["eval"]["distribution"].values()) == len(evaluation)
    assert sum(report["columns"]["label"]["values"].values()) == len(rows) and report["columns"]["text"]["distinct"] == len(rows)

    assert result.metrics["rows_in"] == 600 and result.metrics["rows_out"] == len(rows)
    assert result.metrics["rows_train"] == len(train) and result.metrics["rows_eval"] == len(evaluation)
    assert result.metrics["pii_email"] == report["transforms"][1]["counts"]["email"]

    run(context(example, "support-tickets", tmp_path / "b"))
    assert md5s(tmp_path / "a") == md5s(tmp_path / "b")                   # the lock pins these


def test_a_derived_dataset_reads_its_upstream_split(project, tmp_path):
    root = project({
        "data/t.csv": "text,label,score\n" + "".join(f"ticket {i} about things,{'ab'[i % 2]},{i / 10}\n" for i in range(40)),
        "datasets.yaml": """
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {name: base}
            spec:
              source: {path: data/t.csv}
              format: csv
              columns: {text: string, label: string, score: float}
              transforms:
                - length: {column: text, max_chars: 21}
              splits: {train: 0.5, eval: 0.5, seed: 1, stratify_by: label}
            ---
            apiVersion: llmops/v1
            kind: Dataset
            metadata: {name: derived}
            spec:
              source: {dataset: Dataset/base@train}
              columns: {text: string, score: float}
              transforms:
                - filter: {expr: "score >= 0.4"}
            """,
    })
    base_out = tmp_path / "base"
    base = run(context(root, "base", base_out))
    assert base.metrics["rows_out"] == 10 and base.metrics["removed_length"] == 30   # "ticket 10 about things" is 22
    derived_out = tmp_path / "derived"
    result = run(context(root, "derived", derived_out, {"Dataset/base@train": base_out / "train.jsonl"}))
    rows = lines(derived_out / "all.jsonl")
    upstream = lines(base_out / "train.jsonl")
    assert rows == [{"text": r["text"], "score": r["score"]} for r in upstream if r["score"] >= 0.4]
    assert sorted(p.name for p in derived_out.iterdir()) == ["all.jsonl", "report.json"]
    report = json.loads((derived_out / "report.json").read_text())
    assert report["source"] == {"dataset": "Dataset/base@train"} and report["splits"] is None
    assert result.metrics == {"rows_in": len(upstream), "rows_rejected": 0, "rows_out": len(rows),
                              "removed_filter": len(upstream) - len(rows)}


def dataset(*transforms: str, splits: str = "{train: 0.9, eval: 0.1, seed: 0}") -> str:
    """A Dataset spec over data/d.jsonl (text, label) with these transforms, as YAML flow mappings."""
    return f"""
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {{name: d}}
        spec:
          source: {{path: data/d.jsonl}}
          columns: {{text: string, label: string}}
          transforms: [{", ".join(transforms)}]
          splits: {splits}
        """


def test_a_dataset_filtered_to_nothing_fails_with_the_counts(project, tmp_path):
    root = project({"data/d.jsonl": '{"text": "a", "label": "x"}\n' * 3, "d.yaml": dataset('{filter: {expr: "size(text) > 3"}}')})
    with pytest.raises(NodeFailed, match=r"Dataset/d: no rows left \(3 read; filter -3\)"):
        run(context(root, "d", tmp_path / "out"))


def test_an_empty_split_fails_the_node(project, tmp_path):
    root = project({"data/d.jsonl": '{"text": "abc", "label": "x"}\n', "d.yaml": dataset()})
    with pytest.raises(NodeFailed, match="split .* would be empty"):
        run(context(root, "d", tmp_path / "out"))


def test_a_bad_row_fails_the_node_at_its_line(project, tmp_path):
    root = project({"data/d.jsonl": '{"text": "abc", "label": "x"}\n{"text": "abc", "label": 3}\n',
                    "d.yaml": dataset()})
    with pytest.raises(NodeFailed, match=r"data/d.jsonl:2: column 'label' is int 3, expected string"):
        run(context(root, "d", tmp_path / "out"))


def test_a_hundred_thousand_rows_prepare_in_seconds(project, tmp_path):
    rng = random.Random(0)
    words = ["payment", "card", "app", "crash", "login", "export", "sync", "offline", "billing", "refund", "plan", "support"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 14))) for _ in range(100_000)]
    data = "".join(json.dumps({"text": t + f" mail u{i}@example.com", "label": "abc"[i % 3]}) + "\n" for i, t in enumerate(texts))
    root = project({"data/d.jsonl": data, "d.yaml": dataset(
        "{dedup: {columns: [text]}}", "{pii_redact: {columns: [text]}}", "{near_dedup: {column: text, threshold: 0.9}}",
        '{filter: {expr: "size(text) >= 5"}}', "{length: {column: text, max_chars: 200}}",
        splits="{train: 0.8, eval: 0.2, seed: 42, stratify_by: label}")})
    started = time.perf_counter()
    result = run(context(root, "d", tmp_path / "out"))
    elapsed = time.perf_counter() - started
    print(f"100k rows: {elapsed:.2f}s, {result.summary}")
    assert result.metrics["rows_in"] == 100_000 and result.metrics["pii_email"] == 100_000
    assert elapsed < 30                                   # ~4 s unloaded; slack for a busy shared 2-core machine
