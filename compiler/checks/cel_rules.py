"""CEL expressions (policy rules, dataset filters) compile, with errors at the character."""

from __future__ import annotations

import re

from compiler.cel import cel_syntax_error
from compiler.diagnostics import Diagnostic, error
from compiler.project import Project
from compiler.resources import Resource
from compiler.yaml_source import PathKey

_WHERE = re.compile(r"<input>:(\d+):(\d+): (.*?)(\n|$)")


def _located(resource: Resource, path: PathKey, expr: str, message: str) -> Diagnostic:
    line, col = resource.locate(path)
    match = _WHERE.search(message)
    detail = message
    if match:
        expr_line, expr_col, detail = int(match[1]), int(match[2]), match[3]
        if "\n" in expr.rstrip("\n"):  # a block scalar: the text starts on the next line
            line, col = line + expr_line, col + expr_col - 1
        else:
            col += expr_col - 1
    return error(resource.file, line, col, "E231", f"CEL syntax error: {detail}",
                 "CEL looks like: size(resource.spec.requires) > 0 && resource.metadata.labels.env == 'prod'")


def check_cel(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for resource in project.of_kind("Policy"):
        if resource.spec is not None:
            problem = cel_syntax_error(resource.spec.rule)
            if problem:
                found.append(_located(resource, ("spec", "rule"), resource.spec.rule, problem))
    for resource in project.of_kind("Dataset"):
        if resource.spec is None:
            continue
        for i, step in enumerate(resource.spec.transforms):
            if step.filter is not None:
                problem = cel_syntax_error(step.filter.expr)
                if problem:
                    found.append(_located(resource, ("spec", "transforms", i, "filter", "expr"), step.filter.expr, problem))
    return found
