"""The Dataset node: read the source, run the transforms in order, split, write files and a report.

Outputs (under ``ctx.out``; see docs/artifacts.md): ``all.jsonl`` (the rows after the
transforms, in source order), one ``<split>.jsonl`` per split, and ``report.json``. The
same input and spec always give byte-identical files, because the lock pins their md5s.

The data streams through in blocks of ``resources.block_rows`` rows (runners/data/stream.py):
memory holds a block and a few bytes a row (dedup keys, one band of LSH keys, split hashes),
never the corpus, and the files do not depend on the block size.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from llmops_spec.dataset import DatasetSpec
from runners.data.column_stats import value_keys
from runners.data.contract import Contract
from runners.data.pipeline import check_transforms
from runners.data.readers import read_blocks, source_files
from runners.data.report import ColumnsReport, split_report
from runners.data.splits import choose_splits, row_hashes, split_bounds, stratum_labels
from runners.data.stream import stream_transforms
from runners.data.table import Table, TransformReport, row_bytes
from runners.step import NodeFailed, StepContext, StepResult

REPORT_VERSION = 1
LINES_AT_ONCE = 1 << 16  # split files are written this many lines of all.jsonl at a time


def split_key_columns(spec: DatasetSpec) -> list[str]:
    """What identifies a row for splitting: the first exact-dedup's columns, else every column."""
    for step in spec.transforms:
        if step.dedup is not None:
            return list(step.dedup.columns)
    return list(spec.columns)


def _check_splits(spec: DatasetSpec) -> None:
    if spec.splits and spec.splits.stratify_by and spec.splits.stratify_by not in spec.columns:
        raise NodeFailed(f"splits.stratify_by names column '{spec.splits.stratify_by}', which is not declared",
                         f"declared columns: {', '.join(spec.columns)}", retryable=False)


def _metrics(rows_in: int, rejected: int, rows_out: int, reports: list[TransformReport],
             split_rows: dict[str, int]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"rows_in": rows_in, "rows_rejected": rejected, "rows_out": rows_out}
    metrics |= {f"rows_{name}": n for name, n in split_rows.items()}
    for report in reports:
        if report.removed:
            metrics[f"removed_{report.transform}"] = metrics.get(f"removed_{report.transform}", 0) + report.removed
        for entity, count in report.details.get("counts", {}).items():
            metrics[f"pii_{entity}"] = metrics.get(f"pii_{entity}", 0) + count
    return metrics


def _source(ctx: StepContext, spec: DatasetSpec, contract: Contract) -> tuple[Iterator[Table], dict[str, Any]]:
    """The source's rows in blocks (those that keep the columns' contract), and how the report describes the source
    (a path's files and their rows are added once they are read)."""
    block_rows = spec.resources.block_rows
    if spec.source.dataset is not None:
        blocks = read_blocks([ctx.input(spec.source.dataset)], "jsonl", spec.column_types, ctx.root, repository=False,
                             contract=contract, block_rows=block_rows)
        return blocks, {"dataset": str(spec.source.dataset)}
    files = source_files(ctx.root, spec.source.path, spec.format)
    blocks = read_blocks(files, spec.format, spec.column_types, ctx.root, contract=contract, block_rows=block_rows)
    return blocks, {"path": spec.source.path, "format": spec.format}


def _counted(blocks: Iterator[Table], per_file: Counter) -> Iterator[Table]:
    for block in blocks:
        per_file.update(origin.rsplit(":", 1)[0] for origin in block.origins)  # file:line, file: row group G, row R
        yield block


class _Written:
    """What the pass that writes all.jsonl gathers: rows, column statistics, and each row's split hash and stratum."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.rows = 0
        self.columns = ColumnsReport(spec.column_types, spec.nullable)
        self.splits = spec.splits
        self.key_columns = split_key_columns(spec)
        self.hashes: list[np.ndarray] = []
        self.strata: list[np.ndarray] = []
        self.labels: dict[bytes, int] = {}

    def add(self, block: Table) -> None:
        self.rows += len(block)
        self.columns.add(block.rows)
        if self.splits is not None:
            self.hashes.append(np.array(row_hashes(block, self.key_columns, self.splits.seed), dtype=np.uint64))
            if self.splits.stratify_by:
                self.strata.append(stratum_labels([row[self.splits.stratify_by] for row in block.rows], self.labels))


def _write_all(path: Path, blocks: Iterator[Table], written: _Written) -> None:
    with open(path, "wb") as out:
        for block in blocks:
            out.write(b"".join(row_bytes(row) + b"\n" for row in block.rows))
            written.add(block)


def _write_splits(out: Path, written: _Written, resource: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Each split's file, its lines copied from all.jsonl in order; the rows of each split and the splits' report."""
    spec = written.splits
    names = list(spec.fractions)
    strata = np.concatenate(written.strata) if spec.stratify_by else None
    chosen = choose_splits(np.concatenate(written.hashes), strata, split_bounds(spec.fractions))
    counts = np.bincount(chosen, minlength=len(names) + 1)
    empty = [name for k, name in enumerate(names) if not counts[k]]
    if empty:
        raise NodeFailed(f"{resource}: split {', '.join(empty)} would be empty ({written.rows} rows after the transforms)",
                         "add data, or give the split a larger fraction", retryable=False)
    handles = [open(out / f"{name}.jsonl", "wb") for name in names]  # noqa: SIM115 - closed below, all of them
    try:
        with open(out / "all.jsonl", "rb") as rows:
            for start in range(0, len(chosen), LINES_AT_ONCE):  # a slice of the rows' splits at a time, as Python ints
                for split, line in zip(chosen[start:start + LINES_AT_ONCE].tolist(), rows):  # chosen first: zip stops on it
                    if split < len(names):
                        handles[split].write(line)
    finally:
        for handle in handles:
            handle.close()
    texts = {label: value_keys([orjson.loads(key)])[0] for key, label in written.labels.items()}
    outputs = {}
    for k, name in enumerate(names):
        distribution = None
        if strata is not None:
            distribution = Counter({texts[label]: int(n) for label, n in enumerate(np.bincount(strata[chosen == k],
                                                                                                minlength=len(texts))) if n})
        outputs[name] = split_report(int(counts[k]), written.rows, spec.fractions[name], spec.stratify_by, distribution)
    report = {"seed": spec.seed, "stratify_by": spec.stratify_by, "hashed_on": written.key_columns,
              "unassigned": int(counts[len(names)]), "outputs": outputs}
    return {name: int(counts[k]) for k, name in enumerate(names)}, report


def run(ctx: StepContext) -> StepResult:
    """Prepare the dataset into ``ctx.out``; a prepare that fails leaves nothing there (nor the folder, if it made it)."""
    made = not ctx.out.exists()
    try:
        return _prepare(ctx)
    except BaseException:
        if made:
            shutil.rmtree(ctx.out, ignore_errors=True)
        else:
            for written in ctx.out.glob("*.jsonl"):
                written.unlink()
        raise


def _prepare(ctx: StepContext) -> StepResult:
    spec: DatasetSpec = ctx.spec
    check_transforms(spec.transforms, spec.column_types)
    _check_splits(spec)
    contract = Contract.of(spec)
    per_file: Counter = Counter()
    source_blocks, source = _source(ctx, spec, contract)
    ctx.out.mkdir(parents=True, exist_ok=True)
    written = _Written(spec)
    with tempfile.TemporaryDirectory(prefix=".prepare-", dir=ctx.out.parent) as scratch:
        blocks, reports = stream_transforms(_counted(source_blocks, per_file), spec.transforms, Path(scratch),
                                            spec.column_types)
        try:
            _write_all(ctx.out / "all.jsonl", blocks, written)
        except NodeFailed:
            for _ in source_blocks:  # a transform failed on a row: a bad row the reader has yet to reach is told first
                pass
            raise
    rows_in = sum(per_file.values())
    transforms = reports.result()
    if not written.rows:
        steps = ", ".join(f"{r.transform} -{r.removed}" for r in transforms) or "no transforms"
        rejected = f", {contract.count} more rejected" if contract.count else ""
        raise NodeFailed(f"{ctx.resource}: no rows left ({rows_in} read{rejected}; {steps})",
                         "loosen the transforms, or check the source", retryable=False)
    split_rows, splits_report = _write_splits(ctx.out, written, ctx.resource) if spec.splits else ({}, None)
    if spec.source.path is not None:
        source["files"] = [{"file": name, "rows": count} for name, count in per_file.items()]
    report = {"report_version": REPORT_VERSION, "dataset": ctx.resource, "source": source, "rows_in": rows_in,
              "transforms": [r.to_json() for r in transforms], "rows_out": written.rows, "splits": splits_report,
              "columns": written.columns.result()}
    if spec.on_error.action == "skip":  # fail rejects nothing that gets this far: its report is as it always was
        report["rejected"] = contract.report()
    (ctx.out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")

    parts = ", ".join(f"{name} {n}" for name, n in split_rows.items())
    summary = (f"{rows_in} rows" + (f" ({contract.count} rejected)" if contract.count else "")
               + f" -> {written.rows}" + (f" ({parts})" if parts else ""))
    return StepResult(metrics=_metrics(rows_in, contract.count, written.rows, transforms, split_rows), summary=summary,
                      details={"files": ["all.jsonl", *(f"{n}.jsonl" for n in split_rows), "report.json"]})
