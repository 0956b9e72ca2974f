"""CEL expressions (policy rules, dataset filters) compile, with errors at the character."""

from __future__ import annotations

from compiler.cel import CelProblem, cel_syntax_error
from compiler.diagnostics import Diagnostic, error
from compiler.project import Project
from compiler.resources import Resource
from compiler.yaml_source import PathKey

POLICY_HINT = "a rule reads the resource, e.g. size(resource.spec.requires) > 0 && resource.metadata.labels.env == 'prod'"
FILTER_HINT = "a filter reads the row's columns, e.g. size(text) >= 5 && label != 'spam'"
LIMIT_HINTS = {POLICY_HINT: "split the rule into several Policies, each a short condition",
               FILTER_HINT: "split the filter into several filter steps, each a short condition"}


def located_cel_error(resource: Resource, path: PathKey, problem: CelProblem, hint: str) -> Diagnostic:
    """The problem at its character in the file: exact for one-line and ``|`` expressions, the line otherwise."""
    (line, col), style = resource.doc.text_start(path)
    if style == ">":  # folded: the expression's lines are not the file's; point at its start
        pass
    elif problem.line == 1:
        col += problem.col - 1
    elif style == "|":  # every line of a literal block shares its indentation
        line, col = line + problem.line - 1, col + problem.col - 1
    else:  # a multi-line plain or quoted scalar: the line is right, the column is not knowable
        line, col = line + problem.line - 1, 1
    if problem.limit:
        return error(resource.file, line, col, "E232", f"CEL expression refused: {problem.message}",
                     LIMIT_HINTS.get(hint, "shorten the expression"))
    return error(resource.file, line, col, "E231", f"CEL syntax error: {problem.message}", hint)


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
