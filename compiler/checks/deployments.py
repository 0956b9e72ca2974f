"""A deployment's gates evaluate the very model it deploys; metrics fit the model's task."""

from __future__ import annotations

from compiler.diagnostics import Diagnostic, warning
from compiler.project import Project
from llmops_spec import METRICS


def check_deployments(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for resource in project.of_kind("Deployment"):
        spec = resource.spec
        if spec is None:
            continue
        for i, gate_ref in enumerate(spec.requires):
            gate = project.get(gate_ref)
            if gate is None or gate.spec is None or gate.kind != "EvalGate":
                continue
            if gate.spec.model != spec.model:
                found.append(resource.error(
                    ("spec", "requires", i), "E230",
                    f"{gate_ref} evaluates {gate.spec.model}, but this deployment serves {spec.model}",
                    f"require a gate whose model is {spec.model}, or deploy {gate.spec.model}"))
    for resource in project.of_kind("EvalGate"):
        spec = resource.spec
        model = project.get(spec.model) if spec is not None else None
        if model is None or model.spec is None:
            continue
        for i, threshold in enumerate(spec.metrics):
            info = METRICS[threshold.metric]
            if model.spec.task not in info.tasks:
                line, col = resource.locate(("spec", "metrics", i, "metric"))
                found.append(warning(resource.file, line, col, "W103",
                                     f"{threshold.metric} does not apply to {spec.model} ({model.spec.task})",
                                     f"{threshold.metric} is measured for: {', '.join(info.tasks)}"))
    return found
