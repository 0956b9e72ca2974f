"""CEL expressions (policy rules, dataset filters) compile, with errors at the character."""

from __future__ import annotations

import re

from compiler.cel import cel_syntax_error
from compiler.diagnostics import Diagnostic, error
from compiler.project import Project
from compiler.resources import Resource
from compiler.yaml_source import PathKey

_WHERE = re.compile(r"<input>:(\d+):(\d+): (.*?)(\n|$)")


POLICY_HINT = "a rule reads the resource, e.g. size(resource.spec.requires) > 0 && resource.metadata.labels.env == 'prod'"
FILTER_HINT = "a filter reads the row's columns, e.g. size(text) >= 5 && label != 'spam'"


def located_cel_error(resource: Resource, path: PathKey, message: str, hint: str) -> Diagnostic:
    (line, col), style = resource.doc.text_start(path)
    match = _WHERE.search(message)
    detail = message
    if match:
        expr_line, expr_col, detail = int(match[1]), int(match[2]), match[3]
        if style == ">":  # folded: the expression's lines are not the file's; point at its start
            pass
        elif expr_line == 1:
            col += expr_col - 1
        elif style == "|":  # every line of a literal block shares its indentation
            line, col = line + expr_line - 1, col + expr_col - 1
        else:  # a multi-line plain or quoted scalar: the line is right, the column is not knowable
            line, col = line + expr_line - 1, 1
    return error(resource.file, line, col, "E231", f"CEL syntax error: {detail}", hint)


def check_cel(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for resource in project.of_kind("Policy"):
        if resource.spec is not None:
            problem = cel_syntax_error(resource.spec.rule)
            if problem:
                found.append(located_cel_error(resource, ("spec", "rule"), problem, POLICY_HINT))
    for resource in project.of_kind("Dataset"):
        if resource.spec is None:
            continue
        for i, step in enumerate(resource.spec.transforms):
            if step.filter is not None:
                problem = cel_syntax_error(step.filter.expr)
                if problem:
                    found.append(located_cel_error(resource, ("spec", "transforms", i, "filter", "expr"), problem, FILTER_HINT))
    return found
