"""The building blocks every kind shares: strict models, names, labels, one-of groups."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

API_VERSION = "llmops/v1"

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=63)]
"""A resource name: lowercase letters, digits and dashes, 1-63 chars, no leading or trailing dash."""

LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")]
Labels = dict[LabelKey, Annotated[str, StringConstraints(max_length=253)]]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

SEED_MAX = 2**32 - 1
"""The largest seed: numpy, torch and Python's random all take 0 .. 2^32-1."""
INT_MAX = 2**31 - 1
"""The largest count, size or step a spec may give: what every library llmops hands it to accepts."""
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A float that is a number: no NaN (every comparison with it is false) and no infinity."""


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, types are not coerced, values are frozen.

    Strict: ``"2"`` is not a number and ``true`` is not 1, as a user who quoted it by mistake would want to hear.
    Every float is finite: ``.nan`` would pass any threshold check (NaN compares false) and ``.inf`` reaches
    libraries that fail on it, so neither is a number here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True, allow_inf_nan=False)


class OneOf(Strict):
    """A mapping where exactly one of the declared alternatives must be set.

    ``{path: x}`` or ``{dataset: Dataset/y}``, but never both and never neither.
    Subclasses list the alternatives by their YAML key in ``one_of``.
    """

    one_of: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if len(data) == 1:  # the usual case, {path: x}: one key, checked without a scan
                (key, value), = data.items()
                if key in cls.one_of and value is not None:
                    return data
            present = [key for key in cls.one_of if data.get(key) is not None]
            if len(present) != 1:
                options = " | ".join(cls.one_of)
                if present:
                    raise PydanticCustomError(
                        "llmops_one_of", "set exactly one of {options}, not {present}",
                        {"options": options, "present": ", ".join(present), "field": present[1],
                         "hint": f"keep {present[0]} or {present[1]}, not both: they are alternatives"},
                    )
                raise PydanticCustomError("llmops_one_of", "set exactly one of {options}",
                                          {"options": options, "hint": f"add one of: {options}"})
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target["oneOf"] = [{"required": [key]} for key in cls.one_of]
        return schema

    @property
    def choice(self) -> str:
        """The alternative that is set."""
        return next(key for key in self.one_of if getattr(self, _field_for(type(self), key)) is not None)


@lru_cache(maxsize=None)
def _field_for(model: type[BaseModel], key: str) -> str:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return name
    raise KeyError(key)


RefPath = tuple[str | int, ...]


class SpecBase(Strict):
    """Base of every kind's ``spec``: the references it holds, and which of them are inputs."""

    def references(self) -> list[tuple[RefPath, Any]]:
        """Every reference with its path under ``spec`` as written in YAML, for checking."""
        return []

    def upstream(self) -> list[Any]:
        """The references whose outputs this resource's work reads: the graph's edges."""
        return [ref for _, ref in self.references()]


class Metadata(Strict):
    name: Name = Field(description="Unique per kind: lowercase letters, digits and dashes, at most 63 characters.")
    labels: Labels = Field(default_factory=dict, description="Free-form string labels, matched by policies and inherited along lineage.")
    owner: NonEmptyStr | None = Field(default=None, description="Who answers for this resource, e.g. a team address.")
    description: str | None = None
