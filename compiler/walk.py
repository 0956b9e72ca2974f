"""Walking a validated spec for the references it holds, with the YAML path of each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from compiler.yaml_source import PathKey
from llmops_spec import Ref


def iter_refs(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Ref]]:
    """Every Ref inside ``value`` (a model, list or dict), with the path as written in YAML."""
    if isinstance(value, Ref):
        yield path, value
    elif isinstance(value, BaseModel):
        fields = type(value).model_fields
        for name, info in fields.items():
            child = getattr(value, name)
            if child is None or isinstance(child, (str, int, float, bool)):
                continue
            yield from iter_refs(child, (*path, info.alias or name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_refs(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_refs(item, (*path, key))
