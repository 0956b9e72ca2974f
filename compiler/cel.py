"""CEL, the one engine for validate, dataset filters and policies: cel-expr-python (Google's cel-cpp).

Every expression passes ``expression_limits`` before any engine sees it: a length cap and a
nesting cap (brackets, calls, member chains), measured by a scan that cannot recurse, so a
30,000-step ``a.a.a...`` or 3,000 nested parentheses is a located diagnostic, not a crash.
cel-cpp has its own limits, fixed in the binding (not configurable from Python): a parse
recursion depth of 32 and an evaluation budget of 10,000 comprehension iterations; both
raise ``RuntimeError``. ``cel_syntax_error`` and ``evaluation_error`` turn those into
messages, so a budget exceeded is a finding or the node's own error, never an internal error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_LENGTH = 8_192
"""Characters in one expression: a rule or a filter is a line or two, never a program."""
MAX_DEPTH = 24
"""Nesting of brackets and calls, and the length of a member chain (``a.b.c``): under cel-cpp's own 32."""

# cel-cpp's messages: "<input>:line:col: detail", or "<input>:-1:-1: ..." when it does not know where.
_WHERE = re.compile(r"<input>:(-?\d+):(-?\d+): (.*?)(?:\n|$)")
_RECURSION = re.compile(r"recursion (?:depth|limit)", re.IGNORECASE)
_BUDGET = re.compile(r"iteration budget exceeded", re.IGNORECASE)
_STATUS = re.compile(r"^[A-Z_]+: ")  # absl's status code before the message: "INVALID_ARGUMENT: divide by zero"
_OPEN, _CLOSE = "([{", ")]}"
_IDENT_START = re.compile(r"[A-Za-z_]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[uU]?|0[xX][0-9a-fA-F]+[uU]?")
_STRING_START = re.compile(r"(?:[rR][bB]?|[bB][rR]?)?('''|\"\"\"|'|\")")


@dataclass(frozen=True, slots=True)
class CelProblem:
    """Why an expression is refused: a message, and where in the expression (1-based line and column)."""

    message: str
    line: int = 1
    col: int = 1
    limit: bool = False  # too long or too deep, rather than a syntax error

    @property
    def raw(self) -> str:
        """The engine's located form, ``<input>:line:col: message``, that the diagnostics parse."""
        return f"<input>:{self.line}:{self.col}: {self.message}"


def _position(expression: str, index: int) -> tuple[int, int]:
    line = expression.count("\n", 0, index) + 1
    start = expression.rfind("\n", 0, index) + 1
    return line, index - start + 1


def _skip_string(expression: str, i: int) -> int:
    """The index after the string literal starting at ``i`` (the prefix included), or len() if it never ends."""
    match = _STRING_START.match(expression, i)
    assert match is not None
    quote, raw = match[1], "r" in match[0].lower()
    j = match.end()
    while j < len(expression):
        if not raw and expression[j] == "\\":
            j += 2
            continue
        if expression.startswith(quote, j):
            return j + len(quote)
        j += 1
    return len(expression)


def expression_limits(expression: str) -> CelProblem | None:
    """Why ``expression`` is too long or nested too deeply for any engine, else None. Linear, no recursion."""
    if len(expression) > MAX_LENGTH:
        return CelProblem(f"the expression is {len(expression):,} characters long, more than the {MAX_LENGTH:,} allowed",
                          limit=True)
    depth = 0
    chains = [0]  # the member chain at each bracket depth
    i, n = 0, len(expression)
    while i < n:
        c = expression[i]
        if c in "'\"" or (c in "rRbB" and _STRING_START.match(expression, i) and
                          (i == 0 or not (expression[i - 1].isalnum() or expression[i - 1] == "_"))):
            i = _skip_string(expression, i)
            chains[-1] = 0
            continue
        if c.isdigit():
            number = _NUMBER.match(expression, i)
            i = number.end() if number else i + 1
            continue
        if _IDENT_START.match(c):
            while i < n and (expression[i].isalnum() or expression[i] == "_"):
                i += 1
            continue
        if c in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                line, col = _position(expression, i)
                return CelProblem(f"the expression nests brackets and calls more than {MAX_DEPTH} deep", line, col, True)
            chains.append(0)
        elif c in _CLOSE:
            if depth:
                depth -= 1
                chains.pop()
        elif c == ".":
            chains[-1] += 1
            if chains[-1] > MAX_DEPTH:
                line, col = _position(expression, i)
                return CelProblem(f"the expression chains more than {MAX_DEPTH} member selections (a.b.c...)", line, col,
                                  True)
        elif not c.isspace():
            chains[-1] = 0  # an operator or a comma ends the chain
        i += 1
    return None


@lru_cache(maxsize=1)
def _parser() -> Any:
    from cel_expr_python import cel

    return cel.NewEnv()


def engine_problem(text: str, expression: str) -> CelProblem:
    """cel-cpp's error text as a located problem; its recursion limit reads as the nesting cap does."""
    match = _WHERE.search(text)
    line, col = (int(match[1]), int(match[2])) if match else (1, 1)
    if line < 1 or col < 1:
        line, col = 1, 1
    if _RECURSION.search(text):
        return CelProblem(f"the expression is nested too deeply (cel-cpp allows 32 levels of operators, calls and "
                          f"brackets)", line, col, True)
    detail = match[3].strip() if match else (text.strip().splitlines() or ["invalid CEL"])[0]
    detail = detail.removeprefix("Syntax error: ")
    return CelProblem(detail, line, col)


@lru_cache(maxsize=4096)
def cel_syntax_error(expression: str) -> CelProblem | None:
    """Why ``expression`` is not valid CEL (limits first, then cel-cpp's parser), else None."""
    problem = expression_limits(expression)
    if problem is not None:
        return problem
    try:
        _parser().compile(expression, disable_check=True)
    except RuntimeError as exc:
        return engine_problem(str(exc), expression)
    return None


def compile_unchecked(expression: str) -> Any:
    """The parsed program, without type checks (a filter's variables are the row's columns); raises ValueError."""
    problem = cel_syntax_error(expression)
    if problem is not None:
        raise ValueError(f"{problem.line}:{problem.col}: {problem.message}")
    return _parser().compile(expression, disable_check=True)


def evaluation_error(exc: RuntimeError) -> str:
    """What cel-cpp raising on an evaluation means, for a finding or a node's error."""
    text = str(exc)
    if _BUDGET.search(text):
        return "the expression ran past the evaluation budget (10,000 comprehension iterations): iterate over less"
    return _STATUS.sub("", (text.strip().splitlines() or ["evaluation failed"])[0], count=1)


def evaluate_data(program: Any, data: Any) -> tuple[Any, str | None]:
    """The plain value of ``program`` on ``data`` (names to values), or None and the engine's error."""
    try:
        value = program.eval(data=data)
    except RuntimeError as exc:  # cel-cpp raises, rather than returning an error value, past its iteration budget
        return None, evaluation_error(exc)
    if value.type().name() == "ERROR":
        return None, _STATUS.sub("", str(value.value()), count=1)
    return value.plain_value(), None
