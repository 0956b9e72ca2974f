"""Read a Dataset's source (jsonl, csv, parquet, text; one file or a folder) as a stream of blocks of rows.

Every row is checked against the declared columns as it is read (runners/data/contract.py), and
a bad row is reported at its file and line, a parquet one at its row group and row: the user
fixes data in an editor or re-exports it, so that is the address they need.
Columns the source has but the spec does not declare are dropped (the spec is the schema).
Only regular files inside the repository are read, each at most MAX_DATA_FILE_BYTES
(compiler/safe_read.py): a folder holding a link out of the repository, a FIFO or a device
fails the node before any of its files is read.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from compiler.paths import resolve_inside, walk_inside
from compiler.safe_read import MAX_DATA_FILE_BYTES, ReadRefused, open_regular
from runners.data.contract import BadRecord, Contract
from runners.data.table import Row, Table
from runners.step import NodeFailed

EXTENSIONS = {
    "jsonl": (".jsonl", ".ndjson"),
    "csv": (".csv",),
    "parquet": (".parquet", ".pq"),
    "text": (".txt",),
}


def source_files(root: Path, written: str, fmt: str) -> list[Path]:
    """The files a source path names: the file itself, or a folder's files of the format, sorted by path."""
    target = resolve_inside(root.resolve(), written)
    if target is None:
        raise NodeFailed(f"source path {written!r} is outside the project", "use a path relative to the project root")
    if target.is_dir():
        top = root.resolve()
        found, refused = walk_inside(top, target)
        if refused:  # a link out of the repository (leak.txt -> /etc/passwd), a FIFO, a device: none is read
            first = refused[0]
            raise NodeFailed(f"source folder {written!r}: {first.path.relative_to(top).as_posix()} {first.reason}",
                             "data is read only from regular files inside the repository: replace the link or "
                             "special file with the file itself", retryable=False)
        files = [p for p in found if p.suffix.lower() in EXTENSIONS[fmt]
                 and not any(part.startswith(".") for part in p.relative_to(target).parts)]
        if not files:
            raise NodeFailed(f"source folder {written!r} holds no {fmt} files ({', '.join(EXTENSIONS[fmt])})",
                             "add data files, or set format: to what the folder holds")
        return files
    if os.path.lexists(target):  # read_table refuses what is not a regular file
        return [target]
    hint = ("it is DVC-tracked: run `llmops pull` (or `dvc pull`)" if Path(str(target) + ".dvc").exists()
            else "add the file, or fix source.path (relative to the project root)")
    raise NodeFailed(f"source path {written!r} does not exist", hint)


def display_path(path: Path, root: Path) -> str:
    """How a file is named in messages: relative to the project root when inside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


DEFAULT_BLOCK_ROWS = 65_536  # rows a block holds (resources.block_rows): tens of MiB of rows in memory


def read_table(files: list[Path], fmt: str, columns: dict[str, str], root: Path, *, repository: bool = True,
               contract: Contract | None = None) -> Table:
    """All rows of ``files`` that keep the columns' contract, in order, as one table (``read_blocks``, joined)."""
    rows: list[Row] = []
    origins: list[str] = []
    for block in read_blocks(files, fmt, columns, root, repository=repository, contract=contract):
        rows += block.rows
        origins += block.origins
    return Table(dict(columns), rows, origins)


def read_blocks(files: list[Path], fmt: str, columns: dict[str, str], root: Path, *, repository: bool = True,
                contract: Contract | None = None, block_rows: int = DEFAULT_BLOCK_ROWS) -> Iterator[Table]:
    """The rows of ``files`` that keep the columns' contract, in order (files in the given order, rows in file
    order), typed and located, ``block_rows`` at a time; each row's id is its place among the rows kept.

    The files are read as a stream: memory holds a block, never a file. ``contract``: the declared
    nullability and what a bad row does (runners/data/contract.py); by default no column is nullable
    and any bad row fails the node after the last one is read, listing the first ones.
    ``repository``: the files are the checkout's (a source path), confined to ``root`` again as
    they are opened; False for an upstream artifact apply produced (wherever the worker fetched it).
    """
    if fmt == "text" and set(columns) != {"text"}:
        raise NodeFailed(f"a text source has one column, text; the spec declares {', '.join(columns)}",
                         "set columns: {text: string}, or use format: jsonl or csv for several columns")
    contract = contract or Contract(columns)
    rows: list[Row] = []
    origins: list[str] = []
    first = 0
    for path in files:
        name = display_path(path, root)
        with _open_data(path, name, root if repository else None) as handle:
            for origin, raw in _RAW_READERS[fmt](handle, name, columns):
                row = contract.conform(raw, origin, parse=fmt == "csv")
                if row is not None:
                    rows.append(row)
                    origins.append(origin)
                    if len(rows) == block_rows:
                        yield Table(dict(columns), rows, origins, list(range(first, first + len(rows))))
                        first += len(rows)
                        rows, origins = [], []
    contract.finish()
    if rows:
        yield Table(dict(columns), rows, origins, list(range(first, first + len(rows))))


def _open_data(path: Path, name: str, root: Path | None) -> BinaryIO:
    """A data file opened as compiler/safe_read.py allows: a regular file, capped, inside ``root`` when given."""
    try:
        if root is None:
            return open_regular(path, MAX_DATA_FILE_BYTES, follow=True)
        return open_regular(path, MAX_DATA_FILE_BYTES, root.resolve())
    except ReadRefused as refused:
        raise NodeFailed(f"{name} {refused.message}", refused.hint, retryable=False) from None
    except OSError as exc:
        raise NodeFailed(f"{name}: cannot read: {exc.strerror or exc}", "check the file's permissions") from None


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The file's bytes a MiB at a time, at most MAX_DATA_FILE_BYTES in all (a file that grows while read fails)."""
    total = 0
    while chunk := handle.read(1 << 20):
        total += len(chunk)
        if total > MAX_DATA_FILE_BYTES:
            raise NodeFailed(f"a data file grew past {MAX_DATA_FILE_BYTES:,} bytes while it was read",
                             "split the data into several files of a folder", retryable=False)
        yield chunk


def _lines(handle: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """Numbered non-blank lines, decoded as UTF-8 (a BOM at the start skipped), streamed; not splitlines: a JSON
    string may hold U+2028. A line that is not UTF-8 fails the node at its line and byte in the file."""
    number, offset, rest = 0, 0, b""
    for chunk in _chunks(handle):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for raw in lines:
            number += 1
            yield from _decoded(raw, number, offset, name)
            offset += len(raw) + 1
    if rest:
        yield from _decoded(rest, number + 1, offset, name)


def _decoded(raw: bytes, number: int, offset: int, name: str) -> Iterator[tuple[int, str]]:
    try:
        line = raw.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise NodeFailed(f"{name}:{number}: not UTF-8 ({exc.reason} at byte {offset + exc.start})",
                         "re-encode the file as UTF-8", retryable=False) from None
    line = line.removesuffix("\r")
    if line.strip():
        yield number, line


Raw = dict[str, Any] | BadRecord


def _read_jsonl(handle: BinaryIO, name: str, columns: dict[str, str]) -> Iterator[tuple[str, Raw]]:
    for number, line in _lines(handle, name):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:  # one broken line (a truncated write): the next one is readable
            yield f"{name}:{number}", BadRecord("not valid JSON", f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield f"{name}:{number}", BadRecord("not an object", f"expected a JSON object, found {type(value).__name__}")
            continue
        yield f"{name}:{number}", value


def _read_text(handle: BinaryIO, name: str, columns: dict[str, str]) -> Iterator[tuple[str, Raw]]:
    for number, line in _lines(handle, name):
        yield f"{name}:{number}", {"text": line}


def _read_csv(handle: BinaryIO, name: str, columns: dict[str, str]) -> Iterator[tuple[str, Raw]]:
    text = io.TextIOWrapper(_Capped(handle), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            return
        missing = [c for c in columns if c not in header]
        if missing:
            raise NodeFailed(f"{name}:1: the header has no column {', '.join(map(repr, missing))} "
                             f"(it has: {', '.join(header)})", "add the column, or fix the spec's columns",
                             retryable=False)
        start = reader.line_num
        for record in reader:
            if record and any(cell.strip() for cell in record):
                if len(record) != len(header):
                    yield f"{name}:{start + 1}", BadRecord("field count",
                                                           f"{len(record)} fields, the header has {len(header)}")
                else:
                    yield f"{name}:{start + 1}", dict(zip(header, record))
            start = reader.line_num
    except csv.Error as exc:
        raise NodeFailed(f"{name}:{reader.line_num}: not valid CSV: {exc}", "check the quoting on that line",
                         retryable=False) from None
    except UnicodeDecodeError as exc:
        raise NodeFailed(f"{name}: not UTF-8 ({exc.reason}, after line {reader.line_num})", "re-encode the file as UTF-8",
                         retryable=False) from None


class _Capped(io.RawIOBase):
    """A binary file read through ``_chunks``' cap, for the text wrapper csv reads."""

    def __init__(self, handle: BinaryIO) -> None:
        self._chunks = _chunks(handle)
        self._chunk, self._at = memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._at == len(self._chunk):
            self._chunk, self._at = memoryview(next(self._chunks, b"")), 0
        n = min(len(buffer), len(self._chunk) - self._at)
        buffer[:n] = self._chunk[self._at:self._at + n]
        self._at += n
        return n


def _read_parquet(handle: BinaryIO, name: str, columns: dict[str, str]) -> Iterator[tuple[str, Raw]]:
    """Rows located by row group and row within it, both from 0 as pyarrow counts them
    (``ParquetFile(f).read_row_group(G).slice(R, 1)`` is the row)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise NodeFailed("reading parquet needs pyarrow, which is not installed",
                         "pip install pyarrow, or convert the data to jsonl", retryable=False) from None
    try:
        parquet = pq.ParquetFile(handle)
        names = parquet.schema_arrow.names
        missing = [c for c in columns if c not in names]
        if missing:
            raise NodeFailed(f"{name}: the parquet schema has no column {', '.join(map(repr, missing))} "
                             f"(it has: {', '.join(names)})", "fix the spec's columns", retryable=False)
        for group in range(parquet.num_row_groups):  # batch by batch: a row group may be larger than memory allows
            number = 0
            for batch in parquet.iter_batches(row_groups=[group], columns=list(columns)):
                for row in batch.to_pylist():
                    yield f"{name}: row group {group}, row {number}", row
                    number += 1
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise NodeFailed(f"{name}: not a readable parquet file: {exc}", "re-export the file", retryable=False) from None


_RAW_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet, "text": _read_text}
