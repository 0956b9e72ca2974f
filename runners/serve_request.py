"""What a Serve endpoint accepts: the shape of a request body, its limits, and the rows a prompt needs.

Pure, and shared by the replica, the health check and the deploy probe, so the three agree
on what a valid row is. A body that breaks a rule is the client's mistake: ``BadRequest``
carries the HTTP status and a message that says what to send instead, and the server keeps
serving. Every limit is checked before any model work is done.

A request row holds the prompt's inputs: for each variable read from a dataset, the value
under its column's name (as in a dataset row) or, failing that, under the variable's name.
A plain string is the value of the prompt's one input, or ``text`` without a prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

MAX_BODY_BYTES = 1024 * 1024   # one request's JSON; a bigger body is refused (413) before it is parsed
MAX_DRAIN_BYTES = 32 * MAX_BODY_BYTES  # an oversized body is read to here (discarded) so the 413 reaches the client
MAX_BATCH = 256                # rows in one {"inputs": [...]} request
MAX_TEXT_CHARS = 100_000       # one input value; the tokenizer truncates far below this anyway
SHAPES = 'send JSON: {"text": "..."}, a row of the prompt\'s inputs, or {"inputs": [row, ...]}'


class BadRequest(Exception):
    """A request the endpoint refuses: ``status`` (4xx) and what to send instead."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class PromptInput(NamedTuple):
    """One value a request row must carry: the prompt variable and the dataset column it reads."""

    variable: str
    column: str


def prompt_inputs(prompt: Mapping[str, Any] | None) -> tuple[PromptInput, ...]:
    """The inputs of a frozen prompt (prompt.json); ``text`` alone when there is no prompt."""
    if not prompt:
        return (PromptInput("text", "text"),)
    return tuple(PromptInput(name, variable.get("column") or name)
                 for name, variable in sorted((prompt.get("variables") or {}).items())
                 if isinstance(variable, Mapping) and variable.get("from"))


def sample_row(inputs: Sequence[PromptInput], value: str = "health check") -> dict[str, str]:
    """A row that renders: ``value`` for every input (the health check and the deploy probe send it)."""
    return {item.column: value for item in inputs}


def request_rows(body: Any) -> tuple[list[Any], bool]:
    """The rows of a decoded body, and whether it was a batch (``{"inputs": [...]}``)."""
    if isinstance(body, Mapping) and "inputs" in body:
        rows = body["inputs"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest("inputs must be a non-empty list of rows")
        if len(rows) > MAX_BATCH:
            raise BadRequest(f"a request holds at most {MAX_BATCH} rows, this one {len(rows)}: split it", 413)
        return rows, True
    if isinstance(body, (Mapping, str)):
        return [body], False
    raise BadRequest(f"the body is a JSON {type(body).__name__}: {SHAPES}")


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{where} must be a string or a number, not {'a boolean' if isinstance(value, bool) else type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"{where} holds {len(text)} characters; the limit is {MAX_TEXT_CHARS}", 413)
    return text


def input_row(row: Any, inputs: Sequence[PromptInput], index: int = 0) -> dict[str, str]:
    """A request row as the prompt renderer reads it (column -> value), or BadRequest naming what is missing."""
    where = f"row {index}" if index else "the row"
    if isinstance(row, str):
        if len(inputs) != 1:
            names = ", ".join(item.column for item in inputs)
            raise BadRequest(f"{where} is a string, but the prompt reads {len(inputs)} inputs: send an object with {names}")
        return {inputs[0].column: _value(row, where)}
    if not isinstance(row, Mapping):
        raise BadRequest(f"{where} is a JSON {type(row).__name__}: {SHAPES}")
    values: dict[str, str] = {}
    missing = []
    for item in inputs:
        key = item.column if item.column in row else item.variable if item.variable in row else None
        if key is None:
            missing.append(item.column if item.column == item.variable else f"{item.column} (or {item.variable})")
            continue
        values[item.column] = _value(row[key], f"{where}: {key}")
    if missing:
        raise BadRequest(f"{where} lacks {', '.join(missing)}: the prompt reads {', '.join(i.column for i in inputs)}")
    return values
