"""A secret never leaves its spec: what llmops writes from a spec holds ``<redacted sha256:...>`` in its place.

A secret in a spec is a policy error (``no-secrets-in-specs``) unless waived, and waived or
not it is never copied: the lock's node spec (and so the fingerprint), a plan's reasons, the
audit's field changes, ``prompt.json``, a model's manifest and what a step reads of another
resource hold its redaction, the sha256 of its value (16 hex digits), so a changed secret
still changes the fingerprint. The secret alone is replaced where detect-secrets cuts it out
of its string (a template keeps working: ``Key <redacted sha256:...>. Classify: {{ text }}``);
the whole string when it cannot say where the secret ends (a private key's block).

The detectors and the pre-filter are the policy's (``compiler.policy.secrets``), run over
plain JSON-like values, so nothing here needs a spec model; a value already redacted stays
as it is.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from typing import Any

import orjson

from compiler.policy.secrets import _SEPARATOR, _marks, _starts, _strings, detections, suspect_key, suspects

REDACTED = "<redacted sha256:"
_MARKER = re.compile(r"<redacted sha256:[0-9a-f]{16}>")
_WHOLE = frozenset({"Private Key"})
"""Types whose cut (a key's header line) is not the whole secret: the string they are in goes whole."""


def redaction(value: str) -> str:
    """What stands for a secret outside its spec: its hash, never its value."""
    return f"{REDACTED}{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}>"


def redact_string(key: str, value: str) -> str:
    """``value`` (written under ``key``) with each secret in it replaced by its redaction; as is when it holds none."""
    probe = _MARKER.sub("", value)  # what an earlier redaction left is no secret
    lines = probe.splitlines() or [""]
    cut: set[str] = set()
    for i, text in enumerate(lines):
        for kind, secret in detections(f"{key}: {text}" if i == 0 else text):
            if kind in _WHOLE or not secret or secret not in value:
                return value if _MARKER.fullmatch(value) else redaction(value)
            cut.add(secret)
    for secret in sorted(cut, key=len, reverse=True):
        value = value.replace(secret, redaction(secret))
    return value


def _secret_keys(document: Any) -> dict[tuple, str]:
    """Path -> key of each string of ``document`` some detector could flag."""
    strings: list[tuple[tuple, str, str]] = []
    _strings(document, (), "", strings)
    flagged = suspects([value for _, _, value in strings])
    return {path: key for path, key, value in strings if value in flagged or suspect_key(key)}


def _replaced(data: Any, keys: dict[tuple, str], path: tuple = ()) -> Any:
    if isinstance(data, str):
        return redact_string(keys[path], data) if path in keys else data
    if isinstance(data, dict):
        return {key: _replaced(value, keys, (*path, key)) for key, value in data.items()}
    if isinstance(data, list):
        return [_replaced(value, keys, (*path, i)) for i, value in enumerate(data)]
    return data


def redact_secrets(documents: list[Any]) -> list[Any]:
    """Each JSON-like document with its secrets redacted; one without a mark is returned as it is (the same object).

    The pre-filter reads all documents at once, as the policy's scan does; only those holding
    a mark are walked.
    """
    blobs: list[bytes] = []
    kept: list[int] = []
    chosen: set[int] = set()
    for i, document in enumerate(documents):
        try:
            blobs.append(orjson.dumps(document))
            kept.append(i)
        except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits: judge the document the slow way
            chosen.add(i)
    starts = _starts(blobs)
    chosen.update(kept[bisect_right(starts, at) - 1] for at in _marks(_SEPARATOR.join(blobs)))
    out = list(documents)
    for i in sorted(chosen):
        keys = _secret_keys(documents[i])
        if keys:
            redacted = _replaced(documents[i], keys)
            out[i] = documents[i] if redacted == documents[i] else redacted
    return out


def redact_value(key: str, value: Any) -> Any:
    """One value written under ``key`` (a field, a spec) with its secrets redacted."""
    return redact_secrets([{key: value}])[0][key]


def redact_changes(changes: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """(dotted path, old, new) triples, as diffs name fields, with the secrets of old and new redacted (one scan)."""
    keys = [path.rsplit(".", 1)[-1].split("[", 1)[0] for path, _, _ in changes]
    documents = [{key: value} for key, (_, old, new) in zip(keys, changes) for value in (old, new)]
    done = redact_secrets(documents)
    return [(path, done[2 * i][key], done[2 * i + 1][key]) for i, (key, (path, _, _)) in enumerate(zip(keys, changes))]
