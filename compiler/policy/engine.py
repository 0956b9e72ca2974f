"""The CEL engine of policy rules: cel-expr-python, the Python binding of Google's C++ CEL (cel-cpp).

Chosen over the Rust binding (common-expression-language, which validate uses for its
syntax check) and the pure-Python cel-python after measuring all three on the built-in
pack over 10,000 resources: it is the fastest by far, because handing a resource's
variables to the engine is most of the work and cel-cpp does that in C++, and it is
the only one to pass every conformance case we tried (docs/policy.md has the figures).
Rules are type-checked when compiled, so a misspelt variable is caught before any
resource is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cel_expr_python import cel

from compiler.policy.context import VARIABLES

_WHERE = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")
_UNDECLARED = re.compile(r"undeclared reference to '([A-Za-z_][\w.]*)'")


@dataclass(frozen=True, slots=True)
class CompileError:
    """Why a rule does not compile; ``raw`` is the engine's text, which says where (``<input>:line:col: ...``)."""

    message: str
    raw: str = ""


@lru_cache(maxsize=1)
def _environment() -> Any:
    return cel.NewEnv(variables={name: cel.Type.DYN for name in VARIABLES})


def compile_rule(expression: str) -> Any | CompileError:
    """The compiled rule, or why it cannot be: a syntax error, an unknown variable, a result that is not a bool."""
    try:
        program = _environment().compile(expression)
    except RuntimeError as exc:
        text = str(exc)
        match = _WHERE.search(text)
        if match is None:
            return CompileError(text.strip().splitlines()[0] if text.strip() else "invalid CEL", text)
        line, col, detail = int(match[1]), int(match[2]), match[3].strip()
        unknown = _UNDECLARED.search(detail)
        if unknown:  # cel-cpp points at the last dot of ``a.b.c``; the unknown name is ``a``, where it starts
            detail = f"undeclared reference to '{unknown[1].split('.')[0]}'"
            source = (expression.splitlines() or [""])[line - 1] if line <= len(expression.splitlines()) else ""
            while col > 1 and col - 2 < len(source) and (source[col - 2].isalnum() or source[col - 2] in "_."):
                col -= 1
        return CompileError(detail, f"<input>:{line}:{col}: {detail}")
    returns = program.return_type()
    if returns != cel.Type.BOOL and returns != cel.Type.DYN:
        return CompileError(f"a rule must be true or false, but this one evaluates to {returns.name().lower()}")
    return program


def activation(variables: Mapping[str, Any]) -> Any:
    """The variables of one resource, converted for the engine once and shared by every rule evaluated on it."""
    return _environment().Activation(variables)


def evaluate(program: Any, bound: Any) -> bool | str:
    """True or False, or the engine's error (a missing field, a type mismatch) as a message."""
    value = program.eval(bound)
    result = value.value()
    if result is True or result is False:
        return result
    kind = value.type()
    if kind == cel.Type.ERROR:
        return str(result)
    return f"the rule evaluated to {kind.name().lower()}, not to true or false"
