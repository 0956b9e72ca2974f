"""Checks across resources, each a pure function of the loaded Project returning Diagnostics."""

from __future__ import annotations

from compiler.checks.cel_rules import check_cel
from compiler.checks.columns import check_columns
from compiler.checks.datasets import check_datasets
from compiler.checks.deployments import check_deployments
from compiler.checks.model_bases import check_model_bases
from compiler.checks.match_values import check_match_values
from compiler.checks.prompts import check_prompts
from compiler.checks.references import check_references
from compiler.diagnostics import Diagnostic
from compiler.project import Project

CHECKS = (check_references, check_datasets, check_model_bases, check_columns, check_prompts, check_deployments,
          check_cel, check_match_values)


def check_project(project: Project) -> list[Diagnostic]:
    """Run every check; references first, since the others assume they resolve."""
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(project))
    return found
