"""Every reference names an existing resource of its kind, and an output it really has."""

from __future__ import annotations

from compiler.diagnostics import Diagnostic
from compiler.policy.builtin import BUILTIN_NAMES
from compiler.policy.state_diff import STATE_RULES
from compiler.project import Project
from compiler.resources import Resource
from compiler.suggest import closest
from compiler.yaml_source import PathKey
from llmops_spec import Ref


def check_references(project: Project) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    names_by_kind: dict[str, list[str]] = {}
    for ref in project.resources:
        names_by_kind.setdefault(ref.kind, []).append(ref.name)
    for resource in project.resources.values():
        if resource.spec is None:
            continue
        for where, ref in resource.spec.references():
            path = ("spec", *where)
            target = project.resources.get(ref.resource)
            if target is None:
                if ref.kind == "Policy" and (ref.name in BUILTIN_NAMES or ref.name in STATE_RULES):
                    continue  # a Waiver may name a rule of the built-in pack, or a state-file rule (--base)
                found.append(_unknown(project, resource, path, ref, names_by_kind))
                continue
            if ref.output is None or target.spec is None:
                continue
            outputs = tuple(getattr(target.spec, "outputs", ()))
            if ref.output not in outputs:
                match = closest(ref.output, outputs)
                if match:
                    hint = f"did you mean {ref.resource}@{match}?"
                elif outputs:
                    hint = f"{ref.resource} outputs: {', '.join(outputs)}"
                else:
                    hint = f"{ref.resource} has no splits; reference it whole, or add splits to it"
                found.append(resource.error(path, "E203", f"{ref.resource} has no output '{ref.output}'", hint))
    return found


def _unknown(project: Project, resource: Resource, path: PathKey, ref: Ref,
             names_by_kind: dict[str, list[str]]) -> Diagnostic:
    match = closest(ref.name, names_by_kind.get(ref.kind, []))
    if match:
        target = project.resources[Ref(ref.kind, match)]
        line, _ = target.locate(("metadata", "name"))
        hint = f"did you mean {ref.kind}/{match} ({target.file}:{line})?"
    else:
        other = [kind for kind, names in names_by_kind.items() if ref.name in names and kind != ref.kind]
        hint = (f"{other[0]}/{ref.name} exists, but this field takes a {ref.kind}" if other
                else f"no {ref.kind} is named {ref.name}; define it, or fix the name")
    if project.unparsed_files:
        hint += f" ({project.unparsed_files} spec file(s) could not be parsed and may define it)"
    return resource.error(path, "E201", f"unknown reference {ref.resource}", hint)
