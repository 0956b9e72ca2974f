"""The Dataset node: read the source, run the transforms in order, split, write files and a report.

Outputs (under ``ctx.out``; see docs/artifacts.md): ``all.jsonl`` (the rows after the
transforms, in source order), one ``<split>.jsonl`` per split, and ``report.json``. The
same input and spec always give byte-identical files, because the lock pins their md5s.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from llmops_spec.dataset import DatasetSpec
from runners.data.contract import Contract
from runners.data.pipeline import check_transforms, run_transforms
from runners.data.readers import read_table, source_files
from runners.data.report import columns_report, split_report
from runners.data.splits import assign_splits
from runners.data.table import Table, TransformReport, write_jsonl
from runners.step import NodeFailed, StepContext, StepResult

REPORT_VERSION = 1


def read_source(ctx: StepContext, spec: DatasetSpec, contract: Contract) -> tuple[Table, dict[str, Any]]:
    """The source rows that keep the columns' contract, and how the report describes where they came from."""
    columns = spec.column_types
    if spec.source.dataset is not None:
        path = ctx.input(spec.source.dataset)
        table = read_table([path], "jsonl", columns, ctx.root, repository=False, contract=contract)
        return table, {"dataset": str(spec.source.dataset)}
    files = source_files(ctx.root, spec.source.path, spec.format)
    table = read_table(files, spec.format, columns, ctx.root, contract=contract)
    per_file = Counter(origin.rsplit(":", 1)[0] for origin in table.origins)  # file:line, file: row group G, row R
    return table, {"path": spec.source.path, "format": spec.format,
                   "files": [{"file": name, "rows": count} for name, count in per_file.items()]}


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


def _metrics(rows_in: int, rejected: int, table: Table, reports: list[TransformReport],
             split_rows: dict[str, int]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"rows_in": rows_in, "rows_rejected": rejected, "rows_out": len(table)}
    metrics |= {f"rows_{name}": n for name, n in split_rows.items()}
    for report in reports:
        if report.removed:
            metrics[f"removed_{report.transform}"] = metrics.get(f"removed_{report.transform}", 0) + report.removed
        for entity, count in report.details.get("counts", {}).items():
            metrics[f"pii_{entity}"] = metrics.get(f"pii_{entity}", 0) + count
    return metrics


def run(ctx: StepContext) -> StepResult:
    spec: DatasetSpec = ctx.spec
    check_transforms(spec.transforms, spec.column_types)
    _check_splits(spec)
    contract = Contract.of(spec)
    table, source = read_source(ctx, spec, contract)
    rows_in = len(table)
    table, reports = run_transforms(table, spec.transforms)
    if not table.rows:
        steps = ", ".join(f"{r.transform} -{r.removed}" for r in reports) or "no transforms"
        rejected = f", {contract.count} more rejected" if contract.count else ""
        raise NodeFailed(f"{ctx.resource}: no rows left ({rows_in} read{rejected}; {steps})",
                         "loosen the transforms, or check the source", retryable=False)

    splits: dict[str, list[int]] = {}
    splits_report: dict[str, Any] | None = None
    if spec.splits is not None:
        key_columns = split_key_columns(spec)
        splits = assign_splits(table, spec.splits.fractions, spec.splits.seed, key_columns, spec.splits.stratify_by)
        empty = [name for name, picked in splits.items() if not picked]
        if empty:
            raise NodeFailed(f"{ctx.resource}: split {', '.join(empty)} would be empty ({len(table)} rows after the transforms)",
                             "add data, or give the split a larger fraction", retryable=False)
        splits_report = {
            "seed": spec.splits.seed, "stratify_by": spec.splits.stratify_by, "hashed_on": key_columns,
            "unassigned": len(table) - sum(len(p) for p in splits.values()),
            "outputs": {name: split_report([table.rows[i] for i in picked], len(table), spec.splits.fractions[name],
                                           spec.splits.stratify_by) for name, picked in splits.items()},
        }

    ctx.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(ctx.out / "all.jsonl", table.rows)
    for name, picked in splits.items():
        write_jsonl(ctx.out / f"{name}.jsonl", [table.rows[i] for i in picked])
    report = {"report_version": REPORT_VERSION, "dataset": ctx.resource, "source": source, "rows_in": rows_in,
              "transforms": [r.to_json() for r in reports], "rows_out": len(table), "splits": splits_report,
              "columns": columns_report(table.rows, spec.column_types, spec.nullable)}
    if spec.on_error.action == "skip":  # fail rejects nothing that gets this far: its report is as it always was
        report["rejected"] = contract.report()
    (ctx.out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")

    split_rows = {name: len(picked) for name, picked in splits.items()}
    parts = ", ".join(f"{name} {n}" for name, n in split_rows.items())
    summary = (f"{rows_in} rows" + (f" ({contract.count} rejected)" if contract.count else "")
               + f" -> {len(table)}" + (f" ({parts})" if parts else ""))
    return StepResult(metrics=_metrics(rows_in, contract.count, table, reports, split_rows), summary=summary,
                      details={"files": ["all.jsonl", *(f"{n}.jsonl" for n in splits), "report.json"]})
