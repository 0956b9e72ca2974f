"""Reading a file of the checkout: inside the repository, a regular file, and at most a capped size.

Everything in a pull request is untrusted, symlinks and special files included. So every
file llmops reads from a checkout (spec files, ``.dvc`` files, data, model configs, the
source lines a diagnostic shows) is opened here:

- the path is confined to the project root after resolving symlinks (compiler/paths.py),
  and opened with ``O_NOFOLLOW``, so a link swapped in after the check is not followed;
- with ``O_NONBLOCK``, so opening a FIFO returns at once instead of waiting for a writer;
- ``fstat`` on the open descriptor must say regular file: a FIFO, a device (``/dev/zero``)
  or a folder is refused before a byte is read;
- the size is checked before reading, and at most ``cap + 1`` bytes are read, so a file
  that grows while it is read is refused too, not read until memory runs out.

A refusal is a ``ReadRefused`` with a diagnostic code, a message that names no content of
the file, and a hint; callers turn it into a located Diagnostic or a node's NodeFailed.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from compiler.paths import is_within, real_folder, real_inside

MAX_SPEC_BYTES = 2 * 1024 * 1024     # a spec file, a .dvc file, a model's config: text a person writes
MAX_DATA_FILE_BYTES = 2 * 1024**3    # one data file read into memory (DVC-tracked data larger than this: split it)
MAX_STATE_BYTES = 256 * 1024**2      # llmops' own state and caches (the lock, a hash cache): machine-written, large

_FOLLOWING = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_FLAGS = _FOLLOWING | getattr(os, "O_NOFOLLOW", 0)

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class ReadRefused(Exception):
    """A file llmops will not read. ``message`` completes "<file> ..."; it never quotes the file."""

    def __init__(self, code: str, message: str, hint: str, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.path = path  # set where the file is known by a name to show (llmops' own state files)


def confined(root: Path | str, path: Path | str) -> str:
    """The real path of ``path`` (absolute, or relative to ``root``), refused when it leaves ``root``."""
    target = real_inside(str(root), str(path))
    if target is None:
        raise _outside()
    return target


def open_regular(path: Path | str, cap: int | None, root: Path | str | None = None, *, follow: bool = False) -> BinaryIO:
    """``path`` opened for reading, binary, once it is known to be a regular file of at most ``cap`` bytes.

    With ``root``, the path is confined to it first; without, a symlink as the last component is
    refused, unless ``follow`` (a file llmops itself produced, such as an upstream artifact that
    DVC may link into its cache): then only the regular-file check and the cap apply.
    """
    fd, _ = _open_checked(path, cap, root, follow)
    return os.fdopen(fd, "rb")


def read_regular(path: Path | str, cap: int, root: Path | str | None = None, *, follow: bool = False) -> bytes:
    """The bytes of ``path`` (see ``open_regular``): at most ``cap``, refused when there are more."""
    fd, size = _open_checked(path, cap, root, follow)
    try:
        chunks, total, want = [], 0, min(size, cap) + 1  # one read for a file that does not grow
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise too_large(None, cap)  # it grew after fstat
            want = cap + 1 - total
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_state(root: Path | str, name: str) -> bytes | None:
    """One of llmops' state files at the project root (the lock, the apply log): None when absent.

    A pull request can replace them with a FIFO, a link to ``/dev/zero`` or a file of gigabytes,
    so they are read like any other file of the checkout; a refusal names the file.
    """
    try:
        return read_regular(Path(root) / name, MAX_STATE_BYTES, root)
    except FileNotFoundError:
        return None
    except ReadRefused as refused:
        refused.path = name
        raise


def _open_checked(path: Path | str, cap: int | None, root: Path | str | None, follow: bool) -> tuple[int, int]:
    """A descriptor of a regular file of at most ``cap`` bytes, and its size."""
    if root is not None:
        fd = _open_confined(str(root), str(path))
    else:
        fd = os.open(path, _FOLLOWING) if follow else _open_leaf(str(path))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise ReadRefused("E005", f"is {kind}, not a regular file",
                              "only regular files are read: replace it with a file, or remove it")
        if cap is not None and info.st_size > cap:
            raise too_large(info.st_size, cap)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size  # O_NONBLOCK does nothing to a regular file's reads


def _open_leaf(path: str) -> int:
    try:
        return os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReadRefused("E221", "is a symlink, which is not followed here",
                              "keep the file in the repository as a regular file") from None
        raise


def _open_confined(root: str, path: str) -> int:
    """Open ``path`` inside ``root``: its folders resolved (cached per folder), its last component
    opened without following; only when that is a symlink is it resolved and confined too."""
    root = real_folder(root)
    joined = os.path.join(root, path)
    folder, leaf = os.path.split(joined)
    if leaf in ("", ".", ".."):
        return os.open(confined(root, joined), _FLAGS)
    candidate = os.path.join(real_folder(folder), leaf)
    if not is_within(root, candidate):
        raise _outside()
    try:
        return os.open(candidate, _FLAGS)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    target = os.path.realpath(candidate)  # the last component is a symlink: where does it lead?
    if not is_within(root, target):
        raise _outside()
    try:
        return os.open(target, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a link since: not followed
            raise _outside() from None
        raise


def _outside() -> ReadRefused:
    return ReadRefused("E221", "leads out of the repository (a symlink or a path outside it)",
                       "keep the file inside the repository as a regular file, not a link to elsewhere")


def too_large(size: int | None, cap: int) -> ReadRefused:
    """The refusal of a file above ``cap`` bytes (``size`` None: it grew past the cap while being read)."""
    said = f"is {size:,} bytes" if size is not None else "grew while being read"
    return ReadRefused("E004", f"{said}, above the limit of {cap:,} bytes",
                       "keep large data out of this file: reference it by path and version it with DVC")
