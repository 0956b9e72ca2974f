"""Pydantic validation errors turned into located, hinted Diagnostics."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from compiler.diagnostics import Diagnostic, error
from compiler.suggest import did_you_mean
from compiler.yaml_source import ParsedDoc, PathKey

_TYPE_NAMES = {
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
    "dict_type": "a mapping", "list_type": "a list", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "date_type": "a date (YYYY-MM-DD)", "date_parsing": "a date (YYYY-MM-DD)", "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "a date (YYYY-MM-DD)", "finite_number": "a finite number",
}
_RANGE = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}", "less_than": "< {lt}", "less_than_equal": "<= {le}"}
_CODES = {
    "llmops_unknown_metric": "E105", "llmops_ref_syntax": "E106", "llmops_ref_type": "E106", "llmops_ref_output": "E106",
    "llmops_ref_kind": "E202", "llmops_one_of": "E107", "llmops_conflict": "E107", "llmops_missing": "E101",
    "llmops_range": "E103", "llmops_metric_domain": "E103", "llmops_split_empty": "E101",
    "llmops_baseline_metric": "E105", "llmops_column": "E102",
}


def dotted(path: PathKey) -> str:
    """``('spec', 'transforms', 0, 'dedup')`` as ``spec.transforms[0].dedup``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def _unquoted_ok(text: str) -> bool:
    from compiler.yaml_source import resolve_plain

    return not isinstance(resolve_plain(text.strip()), str) if text.strip() else False


def describe(value: Any) -> str:
    """A value as a message names it: 'the number 123', 'a boolean', 'null', a short string quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"a number of {len(str(abs(value))):,} digits"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    text = str(value)
    if len(text) >= 60 and text.isdigit():  # a number too long for YAML to read as one (compiler/yaml_source.py)
        return f"a number of {len(text):,} digits"
    return f"'{text}'" if len(text) < 60 else "a long string"


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _field_at(root: type[BaseModel], loc: PathKey) -> tuple[Any, Any]:
    """(type, FieldInfo or None) found by walking ``loc`` through ``root``'s fields."""
    tp: Any = root
    info = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            if info is None:
                return None, None
            tp = info.annotation
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return None, None
    return _unwrap(tp), info


def _known_keys(root: type[BaseModel], loc: PathKey) -> list[str]:
    """The keys allowed in the mapping at ``loc`` of ``root``, for 'did you mean'."""
    tp, _ = _field_at(root, loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _description(root: type[BaseModel], loc: PathKey) -> str | None:
    """The field's own documentation, a fair hint for a wrong value."""
    _, info = _field_at(root, loc)
    text = getattr(info, "description", None)
    return f"{loc[-1]}: {text[0].lower()}{text[1:]}" if text and loc else None


def field_diagnostics(doc: ParsedDoc, model: type[BaseModel], errors: list[dict[str, Any]]) -> list[Diagnostic]:
    """One Diagnostic per pydantic error, located at the offending key or value of ``doc``."""
    out: list[Diagnostic] = []
    seen: set[tuple[PathKey, str]] = set()
    for err in errors:
        loc: PathKey = tuple(err["loc"])
        kind: str = err["type"]
        ctx: dict[str, Any] = err.get("ctx") or {}
        value = err.get("input")
        where = dotted(loc)
        hint: str | None = ctx.get("hint")
        if (loc, kind) in seen:
            continue
        seen.add((loc, kind))
        at = "value"
        if ctx.get("field"):  # a check across fields names the one to point at (a key, or a path of keys)
            field = ctx["field"]
            loc = (*loc, *field) if isinstance(field, tuple | list) else (*loc, field)
        if loc == ("metadata", "name") and kind.startswith("string_"):
            code = "E022"
            message = (f"metadata.name is {len(value)} characters long; names have at most 63"
                       if isinstance(value, str) and len(value) > 63 else f"metadata.name {describe(value)} is not a valid name")
            hint = "names use lowercase letters, digits and dashes, 1-63 characters, starting and ending with a letter or digit"
        elif kind == "extra_forbidden":
            code, at = "E100", "key"
            parent = dotted(loc[:-1])
            message = f"unknown field '{loc[-1]}' in {parent}"
            known = _known_keys(model, loc[:-1])
            hint = did_you_mean(str(loc[-1]), known) or (f"allowed here: {', '.join(known)}" if known else None)
        elif kind == "missing":
            code, at = "E101", "key"
            message = f"missing required field '{loc[-1]}' in {dotted(loc[:-1])}"
            hint = f"add {loc[-1]}: under {dotted(loc[:-1])}"
            loc = loc[:-1]
        elif kind in _TYPE_NAMES:
            code = "E102"
            message = f"{where} must be {_TYPE_NAMES[kind]}, not {describe(value)}"
            if isinstance(value, str) and kind.startswith(("int", "float", "bool")):
                hint = f"write {value.strip()} without quotes" if _unquoted_ok(value) else _description(model, loc)
            else:
                hint = _description(model, loc)
        elif kind in _RANGE:
            code = "E103"
            message = f"{where} must be {_RANGE[kind].format(**ctx)}, got {value!r}"
            hint = _description(model, loc)
        elif kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
            code = "E103"
            message = f"{where}: {err['msg'].lower()}"
            hint = _description(model, loc)
        elif kind == "literal_error":
            code = "E104"
            expected = ctx.get("expected", "")
            message = f"{where} must be one of {expected}, not {describe(value)}"
            choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",")]
            hint = (did_you_mean(str(value), choices) if isinstance(value, str) else None) or _description(model, loc)
        elif kind == "string_pattern_mismatch":
            code = "E104"
            message = f"{where} {describe(value)} has the wrong form"
            hint = _description(model, loc) or f"it must match {ctx.get('pattern')}"
        elif kind == "llmops_unknown_metric":
            code = "E105"
            message = f"{where}: {err['msg']}"
            hint = did_you_mean(str(value), ctx.get("choices", [])) or f"known metrics: {', '.join(ctx.get('choices', []))}"
        else:
            code = _CODES.get(kind, "E104")
            message = f"{where}: {err['msg']}"
        line, col = doc.locate(loc, at)
        out.append(error(doc.file, line, col, code, message, hint))
    return out
