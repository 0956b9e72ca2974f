"""The state lock ``llmops.lock``: what was applied, as a versioned JSON document.

Format (docs/lock-format.md)::

    {"lock_version": 1,
     "nodes": {"Dataset/tickets:prepare": {
         "fingerprint": "...", "step": "prepare", "resource": "Dataset/tickets",
         "code": "prepare/1", "spec": {...}, "inputs": {"node id": "fingerprint"},
         "data": {"data/tickets.jsonl": "md5"}, "outputs": {"train": "md5", ...},
         "metrics": {...}, "applied_at": "2026-11-25T10:00:00Z", "commit": "sha",
         "applied_by": "name <email>"}}}

The compiler only reads it; runners/state.py writes it, atomically and under a lock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from compiler.diagnostics import Diagnostic, error

LOCK_VERSION = 1
LOCK_NAME = "llmops.lock"


@dataclass(frozen=True)
class LockEntry:
    fingerprint: str
    step: str
    resource: str
    code: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    data: dict[str, str | None] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    applied_at: str | None = None
    commit: str | None = None
    applied_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @property
    def digest(self) -> str:
        """SHA-256 of the entry's canonical JSON: what an apply log record vouches for (compiler/state_trust.py).

        The same for an entry apply holds in memory and for the one parsed back from the
        file: equal JSON values give equal canonical bytes.
        """
        body = self.to_dict()
        try:
            raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        except TypeError:  # what orjson cannot write (an integer above 64 bits): the standard library, on both sides
            raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Lock:
    nodes: dict[str, LockEntry] = field(default_factory=dict)
    digest: str = hashlib.sha256(b"").hexdigest()  # of the file's bytes; empty when there is no lock yet

    def to_json(self) -> str:
        body = {"lock_version": LOCK_VERSION, "nodes": {nid: self.nodes[nid].to_dict() for nid in sorted(self.nodes)}}
        return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_lock(raw: bytes, name: str = LOCK_NAME) -> tuple[Lock, list[Diagnostic]]:
    """Pure: a Lock from the file's bytes, or an empty Lock and the reasons it could not be read (located)."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        body = _loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", 1)
        col = getattr(exc, "colno", 1)
        return Lock(digest=digest), [error(name, line, col, "E300", f"lock file is not valid JSON: {exc}",
                                           "restore it from git (git checkout -- llmops.lock); never edit it by hand")]
    version = body.get("lock_version") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        return Lock(digest=digest), [error(name, 1, 1, "E300", "lock file has no lock_version",
                                           "restore it from git; never edit it by hand")]
    if version > LOCK_VERSION:
        return Lock(digest=digest), [error(name, 1, 1, "E301", f"lock version {version} is newer than this llmops reads ({LOCK_VERSION})",
                                           "upgrade llmops-spec")]
    text = raw.decode("utf-8", "replace")
    body_nodes = body.get("nodes")
    if not isinstance(body_nodes, dict):
        line, col = locate(text, ("nodes",))
        shown = "is missing" if "nodes" not in body else f"is {_a(_json_type(body_nodes))}"
        return Lock(digest=digest), [error(name, line, col, SHAPE_CODE,
                                           f"lock file: nodes {shown}; it must be an object of node id -> entry",
                                           RESTORE_HINT)]
    nodes: dict[str, LockEntry] = {}
    problems: list[Diagnostic] = []
    for nid, entry in body_nodes.items():
        wrong = entry_problems(entry)
        if wrong:
            field_name, detail = wrong[0]
            line, col = locate(text, (nid,) if field_name is None else (nid, field_name))
            more = f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""
            problems.append(error(name, line, col, SHAPE_CODE, f"lock entry {nid}: {detail}{more}", RESTORE_HINT))
            if len(problems) >= MAX_SHAPE_PROBLEMS:
                break
            continue
        nodes[nid] = LockEntry(**{k: v for k, v in entry.items() if k in _KNOWN})
    if problems:
        return Lock(digest=digest), problems
    return Lock(nodes, digest), []


SHAPE_CODE = "E302"
MAX_SHAPE_PROBLEMS = 20
RESTORE_HINT = "restore it from git (git checkout -- llmops.lock); only apply writes it, never edit it by hand"
_KNOWN = frozenset(LockEntry.__dataclass_fields__)
_OPTIONAL_TEXT = ("applied_at", "commit", "applied_by")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(type(value), type(value).__name__)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def entry_problems(entry: Any) -> list[tuple[str | None, str]]:
    """Pure: what is wrong with the shape of one lock entry, as (field or None, detail); empty when well formed."""
    if not isinstance(entry, dict):
        return [(None, f"must be an object, not {_a(_json_type(entry))}")]
    found: list[tuple[str | None, str]] = []
    for key in ("fingerprint", "step", "resource"):
        if key not in entry:
            found.append((None, f"has no {key}"))
        elif not isinstance(entry[key], str) or not entry[key]:
            found.append((key, f"{key} must be a non-empty string, not {_json_type(entry[key])}"))
    if "code" in entry and not isinstance(entry["code"], str):
        found.append(("code", f"code must be a string, not {_json_type(entry['code'])}"))
    for key in ("spec", "outputs", "metrics"):
        if key in entry and not isinstance(entry[key], dict):
            found.append((key, f"{key} must be an object, not {_json_type(entry[key])}"))
    for key, allow_null in (("inputs", False), ("data", True)):
        value = entry.get(key, {})
        if not isinstance(value, dict):
            found.append((key, f"{key} must be an object, not {_json_type(value)}"))
            continue
        bad = next((k for k, v in value.items() if not (isinstance(v, str) or (allow_null and v is None))), None)
        if bad is not None:
            found.append((key, f"{key}[{bad!r}] must be a {'string or null' if allow_null else 'string'}, "
                               f"not {_json_type(value[bad])}"))
    outputs = entry.get("outputs", {})
    if isinstance(outputs, dict):
        bad = next((k for k, v in outputs.items() if not isinstance(v, (str, dict))), None)
        if bad is not None:
            found.append(("outputs", f"outputs[{bad!r}] must be an md5 string or an object, not {_json_type(outputs[bad])}"))
    for key in _OPTIONAL_TEXT:
        if entry.get(key) is not None and not isinstance(entry[key], str):
            found.append((key, f"{key} must be a string or null, not {_json_type(entry[key])}"))
    return found


def locate(text: str, path: tuple[str, ...]) -> tuple[int, int]:
    """Pure: (line, col) of the key ``path`` (node id, then field) in the lock's JSON text; (1, 1) when not found.

    The lock is written with one key per line, so a key's first quoted occurrence after its
    parent's is the one; a hand-edited file that escapes a name differently falls back to 1:1.
    """
    import re

    at, found = 0, None
    for key in path:
        match = re.compile(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:").search(text, at)
        if match is None:
            break
        at, found = match.end(), match.start()
    if found is None:
        return 1, 1
    line = text.count("\n", 0, found) + 1
    return line, found - (text.rfind("\n", 0, found) + 1) + 1


def _loads(raw: bytes) -> Any:
    """orjson reads a 10,000-node lock in half the standard library's time; what orjson refuses
    (NaN, huge integers, a lone surrogate) goes to the standard library, which accepts it or
    raises the error users are shown."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))


def lock_bytes(root: Path) -> tuple[bytes | None, list[Diagnostic]]:
    """The lock's bytes (None when absent: nothing applied yet), or the diagnostic of why it cannot be read."""
    from compiler.safe_read import ReadRefused, read_state

    try:  # a regular file of the repository, capped: a FIFO or a link to /dev/zero is refused, not read
        return read_state(root, LOCK_NAME), []
    except ReadRefused as refused:
        return None, [error(LOCK_NAME, 0, 0, "E300", f"the lock file {refused.message}", refused.hint)]
    except OSError as exc:
        return None, [error(LOCK_NAME, 1, 1, "E300", f"cannot read the lock file: {exc.strerror}")]


def read_lock(root: Path) -> tuple[Lock, list[Diagnostic]]:
    """The project's lock; an absent lock is an empty one (nothing applied yet)."""
    raw, problems = lock_bytes(root)
    return (Lock(), problems) if raw is None else parse_lock(raw)
