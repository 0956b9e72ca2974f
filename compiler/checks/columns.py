"""Every column a spec names is declared by the dataset it reads."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.diagnostics import Diagnostic
from compiler.project import Project
from compiler.resources import Resource
from compiler.suggest import did_you_mean
from compiler.yaml_source import PathKey
from llmops_spec import Ref


def columns_of(project: Project, ref: Ref) -> tuple[str, ...] | None:
    """Declared columns of the dataset ``ref`` names; None when unknown or invalid."""
    target = project.get(ref)
    if target is None or target.spec is None or target.kind != "Dataset":
        return None
    return tuple(target.spec.columns)


def _dataset_columns(resource: Resource) -> Iterator[tuple[PathKey, str]]:
    spec = resource.spec
    if spec.splits is not None and spec.splits.stratify_by:
        yield ("spec", "splits", "stratify_by"), spec.splits.stratify_by
    for i, step in enumerate(spec.transforms):
        kind = step.choice
        body = getattr(step, kind)
        base: PathKey = ("spec", "transforms", i, kind)
        for j, column in enumerate(getattr(body, "columns", None) or ()):
            yield (*base, "columns", j), column
        if getattr(body, "column", None):
            yield (*base, "column"), body.column


def check_columns(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []

    def need(resource: Resource, path: PathKey, column: str, dataset: Ref, why: str, setting: str | None = None) -> None:
        columns = columns_of(project, dataset)
        if columns is not None and column not in columns:
            hint = did_you_mean(column, columns) or f"its columns: {', '.join(columns)}"
            if setting:  # the column was a default: say how to name another
                hint = f"{hint}; or name the column with {setting}: <column>"
            found.append(resource.error(path, "E223", f"{why} '{column}' is not a column of {dataset.resource}", hint))

    for resource in project.of_kind("Dataset"):
        if resource.spec is None:
            continue
        for path, column in _dataset_columns(resource):
            need(resource, path, column, resource.ref, "column")
    for resource in project.of_kind("Model"):
        spec = resource.spec
        if spec is None or spec.finetune is None:
            continue
        ft = spec.finetune
        base: PathKey = ("spec", "finetune")
        if ft.prompt is None:
            need(resource, (*base, "text_column") if ft.text_column else (*base, "dataset"),
                 ft.text_column or "text", ft.dataset, "text column", None if ft.text_column else "finetune.text_column")
        label = ft.label_column or ("label" if spec.task == "sequence-classification" else None)
        if label:
            need(resource, (*base, "label_column") if ft.label_column else (*base, "dataset"), label, ft.dataset,
                 "label column", None if ft.label_column else "finetune.label_column")
    for resource in project.of_kind("EvalGate"):
        if resource.spec is None:
            continue
        for i, threshold in enumerate(resource.spec.metrics):
            if threshold.slice_by:
                need(resource, ("spec", "metrics", i, "slice_by"), threshold.slice_by, resource.spec.dataset, "slice column")
    return found
