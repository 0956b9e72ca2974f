"""A Dataset's transforms over a stream of blocks: memory holds a block, whatever the corpus.

Transforms run in the order written. One that decides each row alone (pii_redact, filter,
length) runs on each block as it goes by. One that must see every row before it can drop any
(dedup, near_dedup) ends a pass: the blocks that reach it are spilled to disk
(runners/data/spill.py) while it gathers what it decides from (128-bit keys; band keys), and
the next pass reads them back without the rows it dropped. Rows keep their source-order ids
throughout, so every decision is the one the whole table would give, whatever the block size
(tests/test_data_stream.py holds this against the one-table transforms).

Each transform's report is the sum of its blocks' (rows in and out, PII counts, rows too short
or too long); a near_dedup's examples name the rows' origins, found as the next pass reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from runners.data.dedup import EXAMPLES, dedup_keys, dedup_report, first_occurrences
from runners.data.near_dedup import near_dedup_report
from runners.data.near_dedup_stream import NearDedupPass
from runners.data.pipeline import apply_transform
from runners.data.spill import Spill
from runners.data.table import Table, TransformReport


class Reports:
    """Each transform's report, summed over the blocks it saw."""

    def __init__(self, count: int) -> None:
        self.parts: list[TransformReport | None] = [None] * count

    def add(self, position: int, report: TransformReport) -> None:
        seen = self.parts[position]
        self.parts[position] = report if seen is None else TransformReport(
            seen.transform, seen.params, seen.rows_in + report.rows_in, seen.rows_out + report.rows_out,
            _summed(seen.details, report.details))

    def result(self) -> list[TransformReport]:
        assert all(part is not None for part in self.parts), "every transform reports (the stream was read to the end)"
        return list(self.parts)  # type: ignore[arg-type]


def _summed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Details of two blocks' reports: numbers added, nested counts merged, anything else the first block's."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _summed(out[key], value)
        elif isinstance(value, int) and not isinstance(value, bool):
            out[key] += value
    return out


def stream_transforms(blocks: Iterator[Table], transforms: list[Any], scratch: Path,
                      columns: dict[str, str]) -> tuple[Iterator[Table], Reports]:
    """The blocks after every transform, lazily, and the reports they fill as they are read to the end."""
    reports = Reports(len(transforms))
    for position, step in enumerate(transforms):
        folder = scratch / f"transform-{position:03}"
        if step.choice == "dedup":
            blocks = _dedup(blocks, list(step.dedup.columns), position, reports, Spill(folder, columns))
        elif step.choice == "near_dedup":
            blocks = _near_dedup(blocks, step.near_dedup, position, reports, Spill(folder / "rows", columns), folder)
        else:
            blocks = _each_block(blocks, step, position, reports)
    return blocks, reports


def _each_block(blocks: Iterator[Table], step: Any, position: int, reports: Reports) -> Iterator[Table]:
    empty = True
    for block in blocks:
        empty = False
        block, report = apply_transform(block, step)
        reports.add(position, report)
        if len(block):
            yield block
    if empty:  # no rows reached it: it still reports (0 in, 0 out)
        reports.add(position, apply_transform(Table({}, [], [], []), step)[1])


def _dedup(blocks: Iterator[Table], columns: list[str], position: int, reports: Reports, spill: Spill) -> Iterator[Table]:
    keys, ids = [], []
    for block in blocks:
        spill.append(block)
        keys.append(dedup_keys(block, columns))
        ids.append(np.fromiter(block.row_ids, dtype=np.int64, count=len(block)))
    dropped, kept = first_occurrences(_joined(keys, (0, 2), np.uint64), _joined(ids, (0,), np.int64))
    del keys, ids  # 24 bytes a row: not kept while the rest of the stream runs
    wanted = set(dropped[:EXAMPLES].tolist()) | set(kept[:EXAMPLES].tolist())
    origins: dict[int, str] = {}
    yield from spill.blocks(set(dropped.tolist()), wanted=wanted, origins=origins)
    reports.add(position, dedup_report(columns, spill.rows, dropped, kept, origins))


def _near_dedup(blocks: Iterator[Table], body: Any, position: int, reports: Reports, spill: Spill,
                folder: Path) -> Iterator[Table]:
    near = NearDedupPass(folder / "lsh", body.column, body.threshold, body.num_perm, body.shingle_size)
    for block in blocks:
        spill.append(block)
        near.add(block)
    members, starts = near.candidates()
    dropped = near.decide(members, starts, spill.blocks(keep=True)) if len(members) else {}
    del members, starts
    shown = list(dropped.items())[:EXAMPLES]
    wanted = {i for i, (j, _) in shown} | {j for _, (j, _) in shown}
    origins: dict[int, str] = {}
    yield from spill.blocks(dropped, wanted=wanted, origins=origins)
    reports.add(position, near_dedup_report(body.column, near.params, spill.rows, spill.rows - len(dropped),
                                            [(origins[i], origins[j], s) for i, (j, s) in shown],
                                            len({j for j, _ in dropped.values()})))


def _joined(parts: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty_shape, dtype=dtype)
