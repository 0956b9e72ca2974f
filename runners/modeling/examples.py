"""Rows of a prepared split, turned into (input text, target) pairs the same way for training and evaluation.

The text is the rendered Prompt when one is given, else a column (``text`` by default);
the target is a column (``label`` by default). Training and evaluation share this code,
so a model is always scored on inputs built exactly like the ones it learned from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.step import NodeFailed

DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"


@dataclass(frozen=True)
class Example:
    text: str
    target: str | None  # None: a causal LM learns the text itself
    row: Mapping[str, Any]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The objects of a jsonl file, one a line; a bad line is a NodeFailed naming it."""
    rows: list[dict[str, Any]] = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise NodeFailed(f"cannot read {path}: {exc.strerror}", "run the Dataset's prepare step first") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise NodeFailed(f"{path}:{number}: not a JSON object ({exc.msg})", "the prepare step writes one object a line") from None
            if not isinstance(row, dict):
                raise NodeFailed(f"{path}:{number}: a {type(row).__name__}, not a JSON object", "the prepare step writes one object a line")
            rows.append(row)
    return rows


def example_builder(prompt_spec: Any | None, text_column: str | None, label_column: str | None,
                    target_required: bool) -> Callable[[Mapping[str, Any]], Example]:
    """A function from a row to its Example.

    ``label_column=None`` means the default ``label``; a causal LM may go without it
    (``target_required=False``) and then learns the text itself.
    """
    if prompt_spec is not None:
        text_of = _prompt_reader(prompt_spec)
    else:
        text_of = _column_reader(text_column or DEFAULT_TEXT_COLUMN, "text_column")
    label = label_column or DEFAULT_LABEL_COLUMN
    explicit_label = label_column is not None or target_required

    def build(row: Mapping[str, Any]) -> Example:
        if label in row and row[label] is not None:
            return Example(text_of(row), _as_text(row[label]), row)
        if explicit_label:
            raise NodeFailed(f"a row has no target column {label!r}", _columns_hint(row, "label_column"))
        return Example(text_of(row), None, row)

    return build


def build_examples(rows: list[dict[str, Any]], build: Callable[[Mapping[str, Any]], Example]) -> list[Example]:
    return [build(row) for row in rows]


def _prompt_reader(prompt_spec: Any) -> Callable[[Mapping[str, Any]], str]:
    from compiler.prompt_render import TemplateLimitError, prompt_renderer

    try:
        render = prompt_renderer(prompt_spec)
    except TemplateLimitError as exc:
        raise NodeFailed(f"the prompt's template is refused: {exc}", "run `llmops validate`", retryable=False) from None

    def read(row: Mapping[str, Any]) -> str:
        try:
            return render(row)
        except KeyError as exc:
            raise NodeFailed(str(exc.args[0]), _columns_hint(row)) from None
        except TemplateLimitError as exc:  # the sandbox's limits: output size, loop steps
            raise NodeFailed(f"rendering the prompt failed: {exc}", "keep the template's loops and output small",
                             retryable=False) from None

    return read


def _column_reader(column: str, field: str) -> Callable[[Mapping[str, Any]], str]:
    def read(row: Mapping[str, Any]) -> str:
        if column not in row:
            raise NodeFailed(f"a row has no column {column!r}", _columns_hint(row, field))
        return _as_text(row[column])

    return read


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _columns_hint(row: Mapping[str, Any], field: str | None = None) -> str:
    columns = ", ".join(sorted(row)) or "none"
    where = f"; name the right one with finetune.{field}" if field else ""
    return f"the rows have the columns: {columns}{where}"
