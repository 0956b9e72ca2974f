"""Prompt: a Jinja template and where each of its variables comes from."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from llmops_spec.base import Identifier, NonEmptyStr, OneOf, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to


class Variable(OneOf):
    one_of: ClassVar[tuple[str, ...]] = ("from", "value")

    from_: ref_to("Dataset", outputs=True) | None = Field(default=None, alias="from", description="Fill from a column of this dataset.")
    column: Identifier | None = Field(default=None, description="The column, when its name differs from the variable's.")
    value: Any = Field(default=None, description="A constant value.")


class PromptSpec(SpecBase):
    template: NonEmptyStr = Field(description="A Jinja template, rendered in a sandbox.")
    variables: dict[Identifier, Variable] = Field(default_factory=dict)
    system: str | None = Field(default=None, description="An optional system message for chat models.")

    def references(self) -> list[tuple[RefPath, Ref]]:
        return [(("variables", name, "from"), v.from_) for name, v in self.variables.items() if v.from_ is not None]

    def upstream(self) -> list[Ref]:
        return []  # a prompt names columns; the data reaches it through the model or gate that uses both
