"""Dataset: where the data comes from, how it is cleaned, and how it is split."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BeforeValidator, Field, WithJsonSchema, model_serializer, model_validator
from pydantic_core import PydanticCustomError, PydanticKnownError

from llmops_spec.base import INT_MAX, SEED_MAX, Identifier, NonEmptyStr, OneOf, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to
from llmops_spec.resources import DatasetResources

Fraction = Annotated[float, Field(gt=0, le=1)]
ColumnType = Literal["string", "int", "float", "bool", "list", "json"]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)
SHOW_MAX = 1000
PII_ENTITIES = ("email", "phone", "credit_card", "ip_address", "iban", "ssn")


class Source(OneOf):
    one_of: ClassVar[tuple[str, ...]] = ("path", "dataset")

    path: NonEmptyStr | None = Field(default=None, description="A file or folder inside the repository, DVC-tracked or plain.")
    dataset: ref_to("Dataset", outputs=True) | None = Field(default=None, description="Derive from another Dataset (or one of its splits).")


class Dedup(Strict):
    columns: list[Identifier] = Field(min_length=1, description="Rows with equal values in all these columns are duplicates.")


class NearDedup(Strict):
    column: Identifier
    threshold: float = Field(0.9, gt=0, le=1, description="Jaccard similarity of MinHash shingles at or above which rows are near-duplicates.")
    num_perm: int = Field(128, ge=16, le=1024)
    shingle_size: int = Field(5, ge=1, le=32)


class PiiRedact(Strict):
    columns: list[Identifier] = Field(min_length=1)
    entities: list[Literal["email", "phone", "credit_card", "ip_address", "iban", "ssn"]] = Field(
        default_factory=lambda: ["email", "phone", "credit_card", "ip_address"], min_length=1)
    replacement: str = "[{entity}]"


class Filter(Strict):
    expr: NonEmptyStr = Field(description="A CEL expression over the row's columns; rows where it is false are dropped.")


class LengthLimit(Strict):
    column: Identifier
    min_chars: int | None = Field(default=None, ge=0, le=INT_MAX)
    max_chars: int | None = Field(default=None, ge=1, le=INT_MAX)

    @model_validator(mode="after")
    def _ordered(self) -> LengthLimit:
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise PydanticCustomError("llmops_range", "min_chars ({lo}) is above max_chars ({hi})",
                                      {"lo": self.min_chars, "hi": self.max_chars, "field": "min_chars"})
        return self


class Transform(OneOf):
    """One cleaning step; steps run in the order written."""

    one_of: ClassVar[tuple[str, ...]] = ("dedup", "near_dedup", "pii_redact", "filter", "length")

    dedup: Dedup | None = None
    near_dedup: NearDedup | None = None
    pii_redact: PiiRedact | None = None
    filter: Filter | None = None
    length: LengthLimit | None = None


_SPLIT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class Splits(Strict):
    """Named split fractions plus ``seed`` and ``stratify_by``: ``{train: 0.8, eval: 0.2, seed: 42}``."""

    model_config = Strict.model_config | {"extra": "allow"}
    __pydantic_extra__: dict[str, Fraction] = Field(init=False)

    seed: int = Field(0, ge=0, le=SEED_MAX)
    stratify_by: Identifier | None = None

    @model_validator(mode="after")
    def _named(self) -> Splits:
        if not self.model_extra:
            raise PydanticCustomError("llmops_split_empty", "name at least one split, e.g. train: 0.8", {})
        for name in self.model_extra:
            if not _SPLIT_NAME.match(name):
                raise PydanticCustomError("llmops_split_name", "'{name}' is not a valid split name", {"name": name})
        return self

    @property
    def fractions(self) -> dict[str, float]:
        return {name: float(value) for name, value in (self.model_extra or {}).items()}


class Column(Strict):
    """A declared column: its type, and whether null is a value it may hold.

    Written as the type alone (``text: string``, never null) or as a mapping
    (``{type: string, nullable: true}``). Either way it dumps, and so is fingerprinted, as the
    shorthand unless it is nullable: spelling the default out changes nothing.
    """

    type: ColumnType = Field(description="string, int, float, bool, list or json (json holds anything, null too).")
    nullable: bool = Field(False, description="true if the column may hold null (in a csv source, an empty cell).")

    @model_serializer(mode="plain")
    def _dump(self) -> Any:
        return {"type": self.type, "nullable": True} if self.nullable else self.type


def _column_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        if value not in COLUMN_TYPES:  # the same error as a plain Literal gives, at the column itself
            raise PydanticKnownError("literal_error", {"expected": ", ".join(map(repr, COLUMN_TYPES[:-1]))
                                                      + f" or {COLUMN_TYPES[-1]!r}"})
        return {"type": value}
    if not isinstance(value, dict | Column):
        raise PydanticCustomError("llmops_column", "must be a column type or a mapping, not {value}",
                                  {"value": type(value).__name__ if value is not None else "null",
                                   "hint": f"write a type ({', '.join(COLUMN_TYPES)}) or {{type: string, nullable: true}}"})
    return value


ColumnField = Annotated[
    Column, BeforeValidator(_column_shorthand),
    WithJsonSchema({"oneOf": [
        {"enum": list(COLUMN_TYPES)},
        {"type": "object", "additionalProperties": False, "required": ["type"],
         "properties": {"type": {"enum": list(COLUMN_TYPES)}, "nullable": {"type": "boolean", "default": False}}},
    ]}),
]


class OnError(Strict):
    """What a row that breaks the columns' contract (wrong type, null where not nullable, a column missing) does."""

    model_config = Strict.model_config | {"json_schema_extra": {
        "if": {"properties": {"action": {"const": "skip"}}, "required": ["action"]},
        "then": {"required": ["max_skipped"]}}}

    action: Literal["fail", "skip"] = Field("fail", description=(
        "fail: the node fails, listing the first `show` bad rows; skip: bad rows are dropped, counted and "
        "listed in report.json."))
    max_skipped: int | None = Field(default=None, ge=0, le=INT_MAX, description=(
        "With skip: more bad rows than this fail the node (a source that is mostly bad is a broken export)."))
    show: int = Field(20, ge=1, le=SHOW_MAX, description="How many bad rows a failure message or the report lists.")

    @model_validator(mode="after")
    def _bounded(self) -> OnError:
        if self.action == "skip" and self.max_skipped is None:
            raise PydanticCustomError("llmops_missing", "action skip needs max_skipped, the most bad rows to drop",
                                      {"field": "action", "hint": "add max_skipped: N beside action: skip"})
        if self.action == "fail" and self.max_skipped is not None:
            raise PydanticCustomError("llmops_conflict", "max_skipped is set but action is fail, which skips nothing",
                                      {"field": "max_skipped", "hint": "set action: skip, or remove max_skipped"})
        return self


class DatasetSpec(SpecBase):
    source: Source
    format: Literal["jsonl", "csv", "parquet", "text"] = "jsonl"
    columns: dict[Identifier, ColumnField] = Field(min_length=1, description=(
        "The columns and their types: text: string, or {type: string, nullable: true} for one that may be null."))
    on_error: OnError = Field(default_factory=OnError, description=(
        "What a row that breaks the columns' types does: fail the node (the default) or be skipped."))
    transforms: list[Transform] = Field(default_factory=list)
    splits: Splits | None = None
    license: NonEmptyStr | None = Field(default=None, description="SPDX identifier of the data's license, e.g. cc-by-4.0.")
    resources: DatasetResources = Field(default_factory=DatasetResources,
                                        description="What the prepare task asks Ray for, and its block size.")

    @property
    def column_types(self) -> dict[str, str]:
        """Each column's declared type, in declared order."""
        return {name: column.type for name, column in self.columns.items()}

    @property
    def nullable(self) -> frozenset[str]:
        """The columns declared nullable (a json column holds null either way; in csv, only a nullable one reads
        an empty cell as null)."""
        return frozenset(name for name, column in self.columns.items() if column.nullable)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names other resources may reference with ``@``."""
        return tuple(self.splits.fractions) if self.splits else ()

    def references(self) -> list[tuple[RefPath, Ref]]:
        return [(("source", "dataset"), self.source.dataset)] if self.source.dataset else []
