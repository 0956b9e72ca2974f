"""Documents to typed resources: the envelope checks, then the kind's pydantic model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from compiler.diagnostics import Diagnostic, error
from compiler.field_errors import describe, field_diagnostics
from compiler.suggest import did_you_mean
from compiler.yaml_source import ParsedDoc, PathKey
from llmops_spec import API_VERSION, KINDS, Document, Ref


@dataclass(eq=False)
class Resource:
    """One spec document of a known kind and name; ``model`` is None when its fields are invalid."""

    kind: str
    name: str
    doc: ParsedDoc
    model: Document | None

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name)

    @property
    def spec(self) -> Any:
        return self.model.spec if self.model is not None else None

    @property
    def file(self) -> str:
        return self.doc.file

    @property
    def line(self) -> int:
        return self.doc.line

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.model.metadata.labels) if self.model is not None else {}

    def locate(self, path: PathKey, at: str = "value") -> tuple[int, int]:
        return self.doc.locate(path, at)

    def error(self, path: PathKey, code: str, message: str, hint: str | None = None, at: str = "value") -> Diagnostic:
        line, col = self.locate(path, at)
        return error(self.file, line, col, code, message, hint)

    def __repr__(self) -> str:
        return f"<Resource {self.ref} {self.file}:{self.line}>"


def _name_hint(value: Any) -> str:
    if value is None:
        return "write the resource's name after name:, e.g. name: my-name"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'quote it, name: "{text}", or choose a name of letters, digits and dashes'


def to_resource(doc: ParsedDoc) -> tuple[Resource | None, list[Diagnostic]]:
    """Check the envelope, then validate the whole document against its kind."""
    data = doc.data
    diagnostics: list[Diagnostic] = []

    def fail(path: PathKey, code: str, message: str, hint: str | None = None, at: str = "value") -> None:
        line, col = doc.locate(path, at)
        diagnostics.append(error(doc.file, line, col, code, message, hint))

    api = data.get("apiVersion")
    if api != API_VERSION:
        if api is None:
            fail(("apiVersion",), "E020", "missing apiVersion", f"start the document with apiVersion: {API_VERSION}")
        else:
            fail(("apiVersion",), "E020", f"unsupported apiVersion {api!r}", f"this llmops reads apiVersion: {API_VERSION}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        if kind is None:
            fail(("kind",), "E021", "missing kind", f"add kind: one of {', '.join(KINDS)}", at="key")
        else:
            fail(("kind",), "E021", f"unknown kind {kind!r}", did_you_mean(str(kind), KINDS) or f"kinds: {', '.join(KINDS)}")
        return None, diagnostics
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str):
        if isinstance(metadata, dict) and "name" in metadata:  # written, but YAML read it as a number, a bool or null
            fail(("metadata", "name"), "E022", f"metadata.name must be a string, not {describe(name)}",
                 _name_hint(name))
        elif isinstance(metadata, dict):
            fail(("metadata",), "E022", f"{kind} has no metadata.name", "add name: my-name under metadata", at="key")
        else:
            fail(("metadata",), "E022", f"{kind} has no metadata.name", "add metadata: {name: my-name}", at="key")
        return None, diagnostics
    model_cls = KINDS[kind]
    if doc.damaged:  # the YAML errors are reported; validating what is left would only add noise
        return Resource(kind, name, doc, None), diagnostics
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        errors = [e for e in exc.errors(include_url=False) if e["loc"][:1] != ("apiVersion",)]  # reported above
        diagnostics.extend(field_diagnostics(doc, model_cls, errors))
        model = None
    return Resource(kind, name, doc, model), diagnostics
