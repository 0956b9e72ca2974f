"""Blocks of rows kept on disk between the passes of a streaming prepare, so memory holds one block.

A transform that must see every row before it can decide about any (an exact or near dedup)
splits a prepare into passes. The blocks that reach it are written here as they stream by,
and read back, in order, by the next pass: each block one file of lines ``[id, origin, row]``
(orjson; a row's floats, strings and nesting come back exactly as written). The folder is the
node's scratch, removed with it.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from pathlib import Path

import orjson

from runners.data.table import Table


class Spill:
    """The blocks one pass wrote, in order; ``blocks`` reads them back without the rows a decision dropped."""

    def __init__(self, folder: Path, columns: dict[str, str]) -> None:
        self.folder = folder
        self.columns = dict(columns)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files: list[Path] = []
        self.rows = 0

    def append(self, block: Table) -> None:
        path = self.folder / f"block-{len(self._files):06}.jsonl"
        with open(path, "wb") as out:
            out.write(b"".join(orjson.dumps([i, o, r]) + b"\n" for i, o, r in zip(block.row_ids, block.origins, block.rows)))
        self._files.append(path)
        self.rows += len(block)

    def blocks(self, dropped: Container[int] = (), *, keep: bool = False, wanted: Container[int] = (),
               origins: dict[int, str] | None = None) -> Iterator[Table]:
        """Each block again, in order, without the rows whose id is in ``dropped``; a block's file is removed once
        read unless ``keep``. The origin of each row whose id is in ``wanted`` (dropped or not) goes into ``origins``."""
        for path in self._files:
            ids, kept_origins, rows = [], [], []
            with open(path, "rb") as handle:
                for line in handle:
                    i, origin, row = orjson.loads(line)
                    if i in wanted:
                        origins[i] = origin  # type: ignore[index]
                    if i not in dropped:
                        ids.append(i)
                        kept_origins.append(origin)
                        rows.append(row)
            if not keep:
                path.unlink()
            if rows:
                yield Table(self.columns, rows, kept_origins, ids)
