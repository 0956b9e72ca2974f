"""Rendering a Prompt for one data row, in the same sandbox the checks compile it in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from compiler.template_sandbox import TemplateLimitError, nesting_refusal, sandbox

__all__ = ["TemplateLimitError", "prompt_renderer"]


def prompt_renderer(spec: Any) -> Callable[[Mapping[str, Any]], str]:
    """Pure: a function from a row (column -> value) to the rendered prompt.

    A variable ``{from: Dataset/x}`` reads the row's column of the same name (or ``column:``);
    ``{value: ...}`` is a constant. A missing column raises KeyError naming it. A template the
    sandbox refuses (it loads another template, nests too deeply), or a render past the sandbox's
    limits (output size, loop steps), raises TemplateLimitError with a message that says which.
    """
    refusal = nesting_refusal(spec.template)
    if refusal is not None:
        raise refusal
    try:
        template = sandbox().from_string(spec.template)
    except RecursionError:
        raise TemplateLimitError("the template is nested too deeply to compile") from None
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
