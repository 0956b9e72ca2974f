"""Near-dedup over a stream of blocks, in memory bounded by one block and one band of the LSH table.

The same decisions as :func:`runners.data.near_dedup.near_duplicates` (tested against it), made in
three passes that never hold every row's signature:

1. ``add`` (per block, as the stream goes by): the block's band keys (``hash_block``), written to
   disk band by band; signatures are dropped.
2. ``candidates``: for each band in turn, every row's key of that band (16 bytes a row with its id)
   gives the band's bucket edges (``bucket_edges``); the union of all bands' edges gives the
   candidate components. Rows in no shared bucket are done with here.
3. ``decide`` (one more read of the spilled blocks): the candidates' signatures and keys are
   computed again from their text and written to a file at their place among the members, then
   the components are decided a chunk at a time (``decide_components``), reading only that chunk.

Peak memory: a block's signatures, one band of keys and ids for every row, the edges (each
once, whatever bands it comes from), and a chunk of candidates; what grows with the corpus is 16
bytes a row in pass 2 and the candidates' ids. The files live in the node's scratch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from runners.data.near_dedup import (MinHashLSH, band_keys, bucket_edges, components, decide_components, hash_block,
                                     lsh_bands, signatures)
from runners.data.table import Table

CHUNK_MEMBERS = 1 << 16   # candidates decided at once: 64k rows of 128 hashes are 64 MiB


class NearDedupPass:
    """One ``near_dedup`` transform over a stream: ``add`` each block, then ``candidates``, then ``decide``."""

    def __init__(self, folder: Path, column: str, threshold: float, num_perm: int, shingle_size: int) -> None:
        bands, rows = lsh_bands(threshold, num_perm)
        self.params = MinHashLSH(threshold, num_perm, shingle_size, bands, rows)
        self.column = column
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._blocks: list[Path] = []

    def add(self, block: Table) -> None:
        """Hash a block's non-null texts (a null is kept, and compared with none); keep its ids and band keys."""
        picked = [(i, row[self.column]) for i, row in zip(block.row_ids, block.rows) if row[self.column] is not None]
        ids = np.array([i for i, _ in picked], dtype=np.int64)
        keys = hash_block(ids, [t for _, t in picked], self.params).keys
        n = len(self._blocks)
        np.save(self.folder / f"ids-{n:06}.npy", ids)
        for band in range(self.params.bands):  # one file a band: pass 2 reads one band of every block at a time
            np.save(self.folder / f"keys-{n:06}-{band:03}.npy", keys[:, band])
        self._blocks.append(n)

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """``(members, starts)``: the candidate components, as ``candidate_components`` gives them."""
        def column(name: str) -> np.ndarray:
            parts = []
            for n in self._blocks:
                path = self.folder / name.format(n=n)
                parts.append(np.load(path))
                path.unlink()
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        ids = column("ids-{n:06}.npy")
        pairs = np.zeros(0, dtype=np.int64)  # each edge once, as left << 32 | right: copies share every band's bucket
        packed = not len(ids) or int(ids.max()) < 2**31
        left, right = [ids[:0]], [ids[:0]]
        for band in range(self.params.bands):
            edge = bucket_edges(column(f"keys-{{n:06}}-{band:03}.npy").astype(np.uint64), ids)
            if packed:
                pairs = np.unique(np.concatenate([pairs, (edge[0] << 32) | edge[1]]))
            else:
                left.append(edge[0])
                right.append(edge[1])
        del ids
        if packed:
            return components(pairs >> 32, pairs & 0xFFFFFFFF)
        return components(np.concatenate(left), np.concatenate(right))

    def decide(self, members: np.ndarray, starts: np.ndarray, blocks: Iterable[Table]) -> dict[int, tuple[int, float]]:
        """For each dropped row id, the kept row id it resembles and their estimate; ``blocks`` is the stream again."""
        if len(members) == 0:
            return {}
        width = self.params.num_perm + self.params.bands
        at_sorted = np.argsort(members)
        sorted_members = members[at_sorted]
        path = self.folder / "candidates.bin"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for block in blocks:
                ids = np.fromiter(block.row_ids, dtype=np.int64, count=len(block))
                at = np.minimum(np.searchsorted(sorted_members, ids), len(sorted_members) - 1)  # not isin: no sort a block
                where = np.flatnonzero(sorted_members[at] == ids)
                if not len(where):
                    continue
                sig = signatures([block.rows[i][self.column] for i in where], self.params.num_perm, self.params.shingle_size)
                rows = np.hstack([sig, band_keys(sig, self.params.bands, self.params.rows_per_band)])
                places = at_sorted[at[where]]
                for place, row in zip(places.tolist(), rows):
                    os.pwrite(fd, row.tobytes(), place * width * 8)
            return self._decide_chunks(fd, members, starts, width)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)

    def _decide_chunks(self, fd: int, members: np.ndarray, starts: np.ndarray, width: int) -> dict[int, tuple[int, float]]:
        ends = np.append(starts[1:], len(members))
        dropped: dict[int, tuple[int, float]] = {}
        first = 0
        while first < len(starts):  # whole components, about CHUNK_MEMBERS rows at a time
            last = max(int(np.searchsorted(ends, starts[first] + CHUNK_MEMBERS, side="right")), first + 1)
            lo, hi = int(starts[first]), int(ends[last - 1])
            data = os.pread(fd, (hi - lo) * width * 8, lo * width * 8)
            rows = np.frombuffer(data, dtype=np.uint64).reshape(hi - lo, width)
            dropped.update(decide_components(members[lo:hi], starts[first:last] - lo, rows[:, :self.params.num_perm],
                                             rows[:, self.params.num_perm:], self.params))
            first = last
        return dict(sorted(dropped.items()))
