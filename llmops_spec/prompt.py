"""Prompt: a Jinja template and where each of its variables comes from."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from llmops_spec.base import Identifier, NonEmptyStr, OneOf, Strict
from llmops_spec.refs import Ref, ref_to


class Variable(OneOf):
    one_of: ClassVar[tuple[str, ...]] = ("from", "value")

    from_: ref_to("Dataset", outputs=True) | None = Field(default=None, alias="from", description="Fill from a column of this dataset.")
    column: Identifier | None = Field(default=None, description="The column, when its name differs from the variable's.")
    value: Any = Field(default=None, description="A constant value.")


class PromptSpec(Strict):
    template: NonEmptyStr = Field(description="A Jinja template, rendered in a sandbox.")
    variables: dict[Identifier, Variable] = Field(default_factory=dict)
    system: str | None = Field(default=None, description="An optional system message for chat models.")

    def upstream(self) -> list[Ref]:
        return [v.from_ for v in self.variables.values() if v.from_ is not None]
