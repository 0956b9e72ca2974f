"""Prompt templates compile in a sandbox, and their variables are declared and real."""

from __future__ import annotations

import re

from compiler.checks.columns import columns_of
from compiler.diagnostics import Diagnostic, error, warning
from compiler.project import Project
from compiler.resources import Resource
from compiler.suggest import did_you_mean
from compiler.template_sandbox import TemplateLimitError, nesting_refusal, sandbox, template_refusal

__all__ = ["check_prompts", "sandbox", "template_line"]

_TEMPLATE = ("spec", "template")
_REFUSAL_HINT = {"E213": "write the text into this template; a Prompt's variables bring in the data",
                 "E214": "flatten the template: fewer nested brackets, blocks and operators"}


def template_line(resource: Resource, line_in_template: int) -> tuple[int, int]:
    """The file position of a line of the template (exact for plain, quoted and ``|`` scalars)."""
    (line, col), style = resource.doc.text_start(_TEMPLATE)
    if line_in_template <= 1 or style not in ("|", None):
        return line, col
    return line + line_in_template - 1, col


def _name_position(resource: Resource, template: str, name: str, line_in_template: int) -> tuple[int, int]:
    """Where ``name`` is first used in the template, to the column when the layout allows it."""
    line, col = template_line(resource, line_in_template)
    _, style = resource.doc.text_start(_TEMPLATE)
    lines = template.splitlines()
    if style in ("|", None) and 0 < line_in_template <= len(lines):
        found = re.search(rf"\b{re.escape(name)}\b", lines[line_in_template - 1])
        if found:
            col += found.start()
    return line, col


def check_prompts(project: Project) -> list[Diagnostic]:
    from jinja2 import TemplateSyntaxError, meta, nodes

    found: list[Diagnostic] = []
    env = sandbox()
    for resource in project.of_kind("Prompt"):
        spec = resource.spec
        if spec is None:
            continue
        refusal = nesting_refusal(spec.template)
        try:
            if refusal is None:
                ast = env.parse(spec.template)
                refusal = template_refusal(ast)
        except TemplateSyntaxError as exc:
            line, col = template_line(resource, exc.lineno or 1)
            found.append(error(resource.file, line, col, "E212", f"template syntax error: {exc.message}",
                               "check the {{ }} and {% %} pairs near this line"))
            continue
        except RecursionError:  # a shape the caps did not foresee: still a diagnostic
            refusal = TemplateLimitError("the template is nested too deeply to parse", 1)
        if refusal is not None:
            line, col = template_line(resource, refusal.lineno or 1)
            found.append(error(resource.file, line, col, refusal.code, refusal.message, _REFUSAL_HINT[refusal.code]))
            continue
        used = meta.find_undeclared_variables(ast)
        declared = set(spec.variables)
        first_use = {}
        for node in ast.find_all(nodes.Name):
            first_use.setdefault(node.name, node.lineno)
        for name in sorted(used - declared):
            line, col = _name_position(resource, spec.template, name, first_use.get(name, 1))
            found.append(error(resource.file, line, col, "E210", f"template uses undeclared variable '{name}'",
                               did_you_mean(name, declared) or f"declare it under spec.variables: {name}: {{from: Dataset/..}}"))
        for name in sorted(declared - used):
            line, col = resource.locate(("spec", "variables", name), "key")
            found.append(warning(resource.file, line, col, "W100", f"variable '{name}' is declared but the template never uses it",
                                 "remove it, or use it in the template"))
        for name, variable in spec.variables.items():
            if variable.from_ is None:
                continue
            column = variable.column or name
            columns = columns_of(project, variable.from_)
            if columns is not None and column not in columns:
                path = ("spec", "variables", name, "column" if variable.column else "from")
                found.append(resource.error(path, "E211", f"{variable.from_.resource} has no column '{column}'",
                                            did_you_mean(column, columns) or
                                            f"its columns: {', '.join(columns)}; name one with column:"))
    return found
