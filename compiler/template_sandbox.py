"""The Jinja sandbox prompts are checked and rendered in: no file access, and bounded time and memory.

A Prompt's template comes from a pull request, so it is hostile until proven otherwise. On
top of Jinja's ``ImmutableSandboxedEnvironment`` (no attribute escapes, no mutation of
lists and dicts), this sandbox

- refuses ``include``, ``import``, ``from ... import`` and ``extends``: a prompt is one string,
  it never reads another template (``template_refusal``, at validate and again at render);
- caps nesting before parsing (``nesting_refusal``, a scan of Jinja's own lexer tokens, which does
  not recurse) and the depth of the parsed tree, so 3,000 nested parentheses are a diagnostic;
- bounds every render (``RenderBudget``): ``range()`` at 10,000 items; loop iterations, calls and
  filters at 100,000 steps; every value that an operator, call or filter makes, and the output,
  at 1,000,000 characters, refused before it is built where the arguments say how big it will be
  (``"x" * 4000000000``, ``center(10**9)``). Past a limit the render raises ``TemplateLimitError``.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache, wraps
from typing import Any

MAX_OUTPUT = 1_000_000
"""Characters of a rendered prompt, and of any value built while rendering it."""
MAX_STEPS = 100_000
"""Loop iterations, calls and filter applications in one render."""
MAX_RANGE = 10_000
"""Items of one ``range()``."""
MAX_NESTING = 64
"""Brackets, blocks and unary operators open at once, and the depth of the parsed template."""

_REFUSED_TAGS = {"Include": "include", "Import": "import", "FromImport": "from ... import", "Extends": "extends"}
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "with", "block", "autoescape", "trans", "raw"})
_SIZED = frozenset({str, bytes, list, tuple})
_BIG_NUMBER = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format string


class TemplateLimitError(Exception):
    """A template past one of the sandbox's limits: ``message`` says which, ``lineno`` where (0: unknown)."""

    def __init__(self, message: str, lineno: int = 0, code: str = "E214") -> None:
        super().__init__(message)
        self.message, self.lineno, self.code = message, lineno, code


class RenderBudget:
    """What one render has used: steps (loop iterations, calls, filters) and characters of output."""

    __slots__ = ("steps", "output")

    def __init__(self) -> None:
        self.steps = 0
        self.output = 0


_BUDGET: contextvars.ContextVar[RenderBudget | None] = contextvars.ContextVar("llmops_render_budget", default=None)
_STEPS_PAST = f"the template ran more than {MAX_STEPS:,} loop iterations, calls and filters"


def _step() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.steps += 1
        if budget.steps > MAX_STEPS:
            raise TemplateLimitError(_STEPS_PAST)


def _sized(value: Any) -> Any:
    """``value``, unless it is a string or sequence longer than any prompt may be."""
    if type(value) in _SIZED and len(value) > MAX_OUTPUT:
        raise TemplateLimitError(f"the template built a value of {len(value):,} items, more than the {MAX_OUTPUT:,} allowed")
    return value


def _refuse_big_arguments(args: Iterable[Any], what: str) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise TemplateLimitError(f"{what} got {arg:,}, more than the {MAX_OUTPUT:,} a prompt can use")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too large, before Python builds it."""
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            n = _length(seq)
            if n is not None and isinstance(times, int) and n * max(times, 0) > MAX_OUTPUT:
                raise TemplateLimitError(f"repeating a value of {n:,} items {times:,} times is more than the "
                                         f"{MAX_OUTPUT:,} allowed")
        if isinstance(left, int) and isinstance(right, int) and max(abs(left), abs(right)) > 10 ** 100:
            raise TemplateLimitError("the template multiplies numbers of more than 100 digits")
    elif operator == "**":
        if isinstance(right, (int, float)) and abs(right) > 1000:
            raise TemplateLimitError(f"an exponent of {right} is more than the 1,000 allowed")
    elif operator == "%" and isinstance(left, str) and _BIG_NUMBER.search(left):
        raise TemplateLimitError("a %-format asks for a width or precision of a million or more")


def _counted(value: Any) -> Iterator[Any]:
    """The items of a loop's iterable, each one a step of the render's budget."""
    for item in value:
        _step()
        yield item


def _limited_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimitError(f"range() of {len(numbers):,} items is more than the {MAX_RANGE:,} allowed")
    return numbers


def _limited_filter(function: Any, name: str) -> Any:
    @wraps(function)  # keeps jinja_pass_arg, so context-taking filters still get their context
    def limited(*args: Any, **kwargs: Any) -> Any:
        _step()
        if len(args) > 1 or kwargs:
            _refuse_big_arguments([*args[1:], *kwargs.values()], f"the filter {name}")
        return _sized(function(*args, **kwargs))

    return limited


def _walk(ast: Any) -> Iterator[tuple[Any, int]]:
    """Every node of the parsed template with its depth, without recursion (Jinja's find_all recurses)."""
    stack = [(ast, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def template_refusal(ast: Any) -> TemplateLimitError | None:
    """Why a parsed template is refused: its tree is too deep, or it loads another template."""
    loads: list[Any] = []
    for node, depth in _walk(ast):
        if depth > MAX_NESTING * 2:
            return TemplateLimitError(f"the template's expressions are nested more than {MAX_NESTING * 2} deep "
                                      "(long chains of operators, attributes or filters)", node.lineno or 0)
        if type(node).__name__ in _REFUSED_TAGS:
            loads.append(node)
    if loads:
        first = min(loads, key=lambda node: node.lineno)
        tag = _REFUSED_TAGS[type(first).__name__]
        return TemplateLimitError(f"the template uses {{% {tag} %}}: a prompt is one template and never loads another",
                                  first.lineno, "E213")
    return None


def nesting_refusal(source: str) -> TemplateLimitError | None:
    """Too many brackets, blocks or unary operators open at once, found in the lexer's tokens before parsing."""
    from jinja2 import TemplateSyntaxError

    depth, unary, after_block_begin = 0, 0, False
    try:
        for lineno, kind, value in sandbox().lex(source):
            if kind == "operator" and value in "([{":
                depth += 1
            elif kind == "operator" and value in ")]}":
                depth = max(depth - 1, 0)
            elif after_block_begin and kind == "name":
                if value in _BLOCK_TAGS:
                    depth += 1
                elif value.startswith("end"):
                    depth = max(depth - 1, 0)
            if (kind == "name" and value == "not") or (kind == "operator" and value in "+-"):
                unary += 1
            elif kind != "whitespace":
                unary = 0
            after_block_begin = kind == "block_begin" or (after_block_begin and kind == "whitespace")
            if depth > MAX_NESTING or unary > MAX_NESTING:
                return TemplateLimitError(f"the template nests brackets, blocks or operators more than {MAX_NESTING} deep",
                                          lineno)
    except TemplateSyntaxError:
        return None  # the parser reports it, located
    return None


@lru_cache(maxsize=1)
def sandbox() -> Any:
    """The sandboxed Jinja environment templates are checked (and later rendered) in.

    Its classes are built on first use, so importing this module does not import Jinja.
    """
    from jinja2 import StrictUndefined, Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BudgetedTemplate(Template):
        def render(self, *args: Any, **kwargs: Any) -> str:
            """The output, built chunk by chunk under a fresh budget; raises TemplateLimitError past a limit."""
            token = _BUDGET.set(RenderBudget())
            try:
                chunks: list[str] = []
                add, total = chunks.append, 0
                for chunk in self.root_render_func(self.new_context(dict(*args, **kwargs))):
                    total += len(chunk)
                    if total > MAX_OUTPUT:
                        raise TemplateLimitError(f"the rendered prompt is longer than the {MAX_OUTPUT:,} characters allowed")
                    add(chunk)
                return "".join(chunks)
            except RecursionError:
                raise TemplateLimitError("the template recurses too deeply (a macro calling itself?)") from None
            finally:
                _BUDGET.reset(token)

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})
        template_class = BudgetedTemplate

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.globals["range"] = _limited_range
            self.filters = {name: _limited_filter(f, name) for name, f in self.filters.items()}
            self.filters["llmops_counted"] = _counted
            self.filters["llmops_sized"] = _sized

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return _sized(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's names)
            _step()
            target = getattr(__obj, "__wrapped__", None)
            if isinstance(getattr(target, "__self__", None), str) and _BIG_NUMBER.search(target.__self__):
                raise TemplateLimitError("a format string asks for a width or precision of a million or more")
            _refuse_big_arguments([*args, *kwargs.values()], f"the call of {getattr(__obj, '__name__', 'a function')}")
            return _sized(super().call(__context, __obj, *args, **kwargs))

        def _generate(self, source: Any, name: Any, filename: Any, defer_init: bool = False) -> str:
            """Code for a parsed template, refused as validate would, with every loop counted and ``~`` sized."""
            from jinja2 import nodes

            refusal = template_refusal(source)
            if refusal is not None:
                raise refusal
            for node, _ in list(_walk(source)):
                if isinstance(node, nodes.For):
                    node.iter = nodes.Filter(node.iter, "llmops_counted", [], [], None, None, lineno=node.lineno)
                elif isinstance(node, nodes.Concat):
                    node.nodes = [nodes.Filter(part, "llmops_sized", [], [], None, None, lineno=node.lineno)
                                  for part in node.nodes]
            return super()._generate(source, name, filename, defer_init)

    return Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
