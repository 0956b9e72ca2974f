"""JSON Schema (draft-07, what yaml-language-server reads) for each kind and for any document."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from llmops_spec.kinds import KINDS

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
SCHEMA_BASE = "https://llmops-spec.dev/schemas/"


def _to_draft07(node: Any) -> Any:
    """pydantic writes 2020-12 (``$defs``); draft-07 calls them ``definitions``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = value.replace("#/$defs/", "#/definitions/")
            elif key == "$defs":
                out["definitions"] = _to_draft07(value)
            else:
                out[key] = _to_draft07(value)
        return out
    if isinstance(node, list):
        return [_to_draft07(item) for item in node]
    return node


def _all_definitions() -> dict[str, Any]:
    _, top = models_json_schema([(cls, "validation") for cls in KINDS.values()], by_alias=True,
                                ref_template="#/$defs/{model}")
    return _to_draft07(top)["definitions"]


def document_schema() -> dict[str, Any]:
    """One schema for any spec document: the kind selects the definition (draft-07 if/then)."""
    return {
        "$schema": DRAFT_07,
        "$id": SCHEMA_BASE + "llmops.schema.json",
        "title": "llmops spec document",
        "description": "Any llmops/v1 document; `kind` selects which schema applies.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": "llmops/v1"}, "kind": {"enum": list(KINDS)}},
        "allOf": [
            {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
             "then": {"$ref": f"#/definitions/{kind}"}}
            for kind in KINDS
        ],
        "definitions": _all_definitions(),
    }


def kind_schema(kind: str) -> dict[str, Any]:
    """A standalone schema for one kind."""
    cls = KINDS[kind]
    schema = _to_draft07(cls.model_json_schema(by_alias=True, mode="validation"))
    return {"$schema": DRAFT_07, "$id": SCHEMA_BASE + f"{kind.lower()}.schema.json", **schema}


def schema_files() -> dict[str, str]:
    """File name -> content of every schema, as committed under schemas/."""
    files = {"llmops.schema.json": document_schema()}
    files.update({f"{kind.lower()}.schema.json": kind_schema(kind) for kind in KINDS})
    return {name: json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False) + "\n" for name, body in files.items()}
