"""The CEL engine of policy rules: cel-expr-python, the Python binding of Google's C++ CEL (cel-cpp).

The one engine of llmops (validate's syntax check and dataset filters use it too, through
compiler/cel.py, which caps length and nesting before it sees an expression).
Chosen over the Rust binding (common-expression-language) and the pure-Python cel-python
after measuring all three on the built-in
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

from compiler.cel import CelProblem, engine_problem, evaluation_error, expression_limits
from compiler.policy.context import VARIABLES

_UNDECLARED = re.compile(r"undeclared reference to '([A-Za-z_][\w.]*)'")


@dataclass(frozen=True, slots=True)
class CompileError:
    """Why a rule does not compile, and where in the rule."""

    message: str
    problem: CelProblem | None = None

    @property
    def raw(self) -> CelProblem:
        return self.problem or CelProblem(self.message)


@lru_cache(maxsize=1)
def _environment() -> Any:
    return cel.NewEnv(variables={name: cel.Type.DYN for name in VARIABLES})


def compile_rule(expression: str) -> Any | CompileError:
    """The compiled rule, or why it cannot be: too long or deep, a syntax error, an unknown variable, not a bool."""
    limited = expression_limits(expression)
    if limited is not None:
        return CompileError(limited.message, limited)
    try:
        program = _environment().compile(expression)
    except RuntimeError as exc:
        problem = engine_problem(str(exc), expression)
        line, col, detail = problem.line, problem.col, problem.message
        unknown = _UNDECLARED.search(detail)
        if unknown:  # cel-cpp points at the last dot of ``a.b.c``; the unknown name is ``a``, where it starts
            detail = f"undeclared reference to '{unknown[1].split('.')[0]}'"
            source = (expression.splitlines() or [""])[line - 1] if line <= len(expression.splitlines()) else ""
            while col > 1 and col - 2 < len(source) and (source[col - 2].isalnum() or source[col - 2] in "_."):
                col -= 1
        return CompileError(detail, CelProblem(detail, line, col, problem.limit))
    returns = program.return_type()
    if returns != cel.Type.BOOL and returns != cel.Type.DYN:
        return CompileError(f"a rule must be true or false, but this one evaluates to {returns.name().lower()}")
    return program


def activation(variables: Mapping[str, Any]) -> Any:
    """The variables of one resource, converted for the engine once and shared by every rule evaluated on it."""
    return _environment().Activation(variables)


def evaluate(program: Any, bound: Any) -> bool | str:
    """True or False, or the engine's error (a missing field, a type mismatch, the budget exceeded) as a message."""
    try:
        value = program.eval(bound)
    except RuntimeError as exc:  # cel-cpp raises, rather than returning an error value, past its iteration budget
        return evaluation_error(exc)
    result = value.value()
    if result is True or result is False:
        return result
    kind = value.type()
    if kind == cel.Type.ERROR:
        return str(result)
    return f"the rule evaluated to {kind.name().lower()}, not to true or false"
