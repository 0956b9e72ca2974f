"""How policies compare the values they match on: normalized, so ``Production``, ``"prod "`` and ``PROD`` are prod.

Every value a rule matches on (label keys and values, a deployment's ``environment``) is
seen by rules, by ``match: {labels: ...}`` and by the built-in pack in one form:
Unicode NFKC (full-width and compatibility letters to their plain form), case-folded,
stripped of surrounding whitespace. What normalization cannot make equal, a look-alike
letter of another script (a Cyrillic ``р`` in ``рrod``) or an invisible character, is
refused at validate (``compiler.checks.match_values``), so it never reaches a match.

Labels the pack reads as booleans take ``"true"`` or ``"false"`` only (E252 at validate
for ``yes``, ``on``, ``1``, ...): a rule that asks ``pii == "true"`` must not read
``"yes"`` as no.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

BOOLEAN_LABELS = frozenset({"pii", "commercial"})
"""Labels the built-in pack reads as booleans; a Policy that matches a label on "true" or "false" adds its key."""
BOOLEANS = ("true", "false")


def normalize(value: str) -> str:
    """The form rules compare: NFKC, case-folded, stripped."""
    if value.isascii():  # the usual case, at a tenth of the cost
        return value.lower().strip()
    return unicodedata.normalize("NFKC", value).casefold().strip()


def normalize_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Keys and values normalized (keys that collide once normalized are refused at validate: E253)."""
    return {normalize(key): normalize(value) for key, value in labels.items()}


def boolean_labels(policy_matches: Iterable[Mapping[str, str]]) -> frozenset[str]:
    """The pack's boolean labels, plus every key a Policy's ``match.labels`` compares with "true" or "false"."""
    keys = set(BOOLEAN_LABELS)
    for labels in policy_matches:
        keys.update(normalize(key) for key, value in labels.items() if normalize(value) in BOOLEANS)
    return frozenset(keys)
