"""Typed references between resources: ``Kind/name`` or ``Kind/name@output``."""

from __future__ import annotations

import re
from typing import Annotated, Any, NamedTuple

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

KIND_NAMES = ("Dataset", "Prompt", "Model", "EvalGate", "Deployment", "Policy", "Waiver")

_REF = re.compile(r"^(?P<kind>[A-Za-z]+)/(?P<name>[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(@(?P<output>[a-z0-9_-]+))?$")


class Ref(NamedTuple):
    """A reference to another resource, optionally to one of its outputs.

    A tuple: cheap to build, hash and compare, which matters with 10,000 resources.
    """

    kind: str
    name: str
    output: str | None = None

    @classmethod
    def parse(cls, text: str) -> Ref:
        match = _REF.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a reference; write Kind/name or Kind/name@output")
        return cls(match["kind"], match["name"], match["output"])

    @property
    def resource(self) -> Ref:
        """The reference without its output: the resource itself."""
        return Ref(self.kind, self.name) if self.output is not None else self

    def __str__(self) -> str:
        base = f"{self.kind}/{self.name}"
        return f"{base}@{self.output}" if self.output else base


class RefTo:
    """Annotation for a field holding a reference to one of ``kinds``.

    ``model: Annotated[Ref, RefTo("Model")]`` accepts ``Model/x`` and rejects
    ``Dataset/x`` with a located error; ``outputs`` says whether ``@output`` is allowed.
    """

    def __init__(self, *kinds: str, outputs: bool = False) -> None:
        self.kinds = kinds
        self.outputs = outputs

    def _validate(self, value: Any) -> Ref:
        if isinstance(value, Ref):
            ref = value
        elif isinstance(value, str):
            match = _REF.match(value)
            if not match:
                raise PydanticCustomError(
                    "llmops_ref_syntax", "'{value}' is not a reference to a {kinds}",
                    {"value": value, "kinds": " or ".join(self.kinds), "hint": _syntax_hint(value, self.kinds[0])},
                )
            ref = Ref(match["kind"], match["name"], match["output"])
        else:
            raise PydanticCustomError("llmops_ref_type", "expected a reference like {example}, got {got}",
                                      {"example": f"{self.kinds[0]}/name", "got": type(value).__name__})
        if ref.kind not in self.kinds:
            raise PydanticCustomError(
                "llmops_ref_kind", "{ref} is a {kind}, but this field takes a {kinds}",
                {"ref": str(ref), "kind": ref.kind, "kinds": " or ".join(self.kinds),
                 "hint": f"reference a {' or '.join(self.kinds)} here: {self.kinds[0]}/<name>"},
            )
        if ref.output and not self.outputs:
            raise PydanticCustomError("llmops_ref_output", "{ref}: this field takes a whole {kind}, without @{output}",
                                      {"ref": str(ref), "kind": ref.kind, "output": ref.output,
                                       "hint": f"write {ref.resource}"})
        return ref

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self._validate, serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        kinds = "|".join(self.kinds)
        output = "(@[a-z0-9_-]+)?" if self.outputs else ""
        return {
            "type": "string",
            "pattern": f"^({kinds})/[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?{output}$",
            "description": f"A reference to a {' or '.join(self.kinds)}" + (", optionally @output" if self.outputs else ""),
        }


def _syntax_hint(value: str, kind: str) -> str:
    name = value.rsplit("/", 1)[-1].split("@")[0].strip().lower().replace("_", "-").replace(" ", "-")
    suggestion = f"{kind}/{name}" if _REF.match(f"{kind}/{name}") else f"{kind}/<name>"
    return f"write {suggestion} (Kind/name, with an optional @output)"


def ref_to(*kinds: str, outputs: bool = False) -> Any:
    """``Annotated[Ref, RefTo(*kinds)]``: a typed reference field."""
    return Annotated[Ref, RefTo(*kinds, outputs=outputs)]
