"""Rendering a Prompt for one data row, in the same sandbox the checks compile it in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from compiler.checks.prompts import sandbox


def prompt_renderer(spec: Any) -> Callable[[Mapping[str, Any]], str]:
    """Pure: a function from a row (column -> value) to the rendered prompt.

    A variable ``{from: Dataset/x}`` reads the row's column of the same name (or ``column:``);
    ``{value: ...}`` is a constant. A missing column raises KeyError naming it.
    """
    template = sandbox().from_string(spec.template)
    constants = {name: v.value for name, v in spec.variables.items() if v.from_ is None}
    columns = {name: v.column or name for name, v in spec.variables.items() if v.from_ is not None}

    def render(row: Mapping[str, Any]) -> str:
        values = dict(constants)
        for name, column in columns.items():
            if column not in row:
                raise KeyError(f"the prompt variable {name} reads column {column!r}, which this row lacks")
            values[name] = row[column]
        return template.render(values)

    return render
