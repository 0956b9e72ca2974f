"""Declared column types, checked on every row as it is read.

JSON-like sources (jsonl, parquet) must already hold the declared type; csv cells are
strings, parsed into it. A float column accepts integers and writes them as floats, so the
output does not depend on how a number was spelled; nothing else is converted.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class ColumnTypeError(ValueError):
    """A value that is not of its column's declared type; the reader adds the location."""


def _describe(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown[:40] + '...' if len(shown) > 40 else shown}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_ACCEPTS = {
    "string": lambda v: isinstance(v, str),
    "int": _is_int,
    "float": lambda v: _is_int(v) or isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
}


def check_value(value: Any, kind: str) -> Any:
    """``value`` as the declared ``kind`` (string, int, float, bool, list, json); raises ColumnTypeError."""
    if kind == "json":
        return value
    if value is None:
        raise ColumnTypeError(f"is null, expected {kind}")
    if not _ACCEPTS[kind](value):
        raise ColumnTypeError(f"is {_describe(value)}, expected {kind}")
    if kind == "float":
        if not math.isfinite(value):
            raise ColumnTypeError(f"is {value}, expected a finite float")
        return float(value)
    return value


def parse_text_value(text: str, kind: str) -> Any:
    """A csv cell (always a string) parsed as ``kind``; an empty cell is only an empty string."""
    if kind == "string":
        return text
    stripped = text.strip()
    if not stripped:
        raise ColumnTypeError(f"is empty, expected {kind}")
    if kind == "bool":
        lowered = stripped.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ColumnTypeError(f"is {stripped[:40]!r}, expected bool (true/false, 1/0, yes/no)")
    try:
        parsed: Any = int(stripped) if kind == "int" else float(stripped) if kind == "float" else orjson.loads(stripped)
    except ValueError:  # orjson.JSONDecodeError is a ValueError too
        raise ColumnTypeError(f"is {stripped[:40]!r}, expected {kind}") from None
    return check_value(parsed, kind)
