"""Normalizing spec files: one indentation style, the envelope keys in order, comments kept.

ruamel.yaml round-trips the file (comments, quotes and flow style survive); the
result is checked to mean exactly what the original meant before it is returned.
"""

from __future__ import annotations

import io
from typing import Any

from compiler.yaml_source import parse_documents

ENVELOPE_ORDER = ("apiVersion", "kind", "metadata", "spec")


class FormatError(Exception):
    """The file cannot be formatted safely (it does not parse, or formatting would change it)."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _order_envelope(doc: Any) -> None:
    if not hasattr(doc, "move_to_end"):
        return
    present = [key for key in ENVELOPE_ORDER if key in doc]
    rest = [key for key in doc if key not in ENVELOPE_ORDER]
    if list(doc)[: len(present)] == present and all(k not in ENVELOPE_ORDER for k in list(doc)[len(present):]):
        return
    for key in [*present, *rest]:
        doc.move_to_end(key)


def format_text(text: str, name: str = "<spec>") -> str:
    """The normalized form of a spec file's text; raises FormatError when it cannot be done safely."""
    before, problems = parse_documents(text, name)
    if problems:
        raise FormatError(f"{name} has YAML errors; run llmops validate first")
    yaml = _yaml()
    docs = list(yaml.load_all(text))
    for doc in docs:
        _order_envelope(doc)
    out = io.StringIO()
    if len(docs) == 1:
        yaml.dump(docs[0], out)
    elif docs:
        yaml.dump_all(docs, out)
    result = out.getvalue()
    after, problems = parse_documents(result, name)
    if problems or [d.data for d in after] != [d.data for d in before]:
        raise FormatError(f"formatting {name} would change its meaning; left as it is")
    return result
