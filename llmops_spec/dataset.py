"""Dataset: where the data comes from, how it is cleaned, and how it is split."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from llmops_spec.base import INT_MAX, SEED_MAX, Identifier, NonEmptyStr, OneOf, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to
from llmops_spec.resources import Resources

Fraction = Annotated[float, Field(gt=0, le=1)]
ColumnType = Literal["string", "int", "float", "bool", "list", "json"]
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


class DatasetSpec(SpecBase):
    source: Source
    format: Literal["jsonl", "csv", "parquet", "text"] = "jsonl"
    columns: dict[Identifier, ColumnType] = Field(min_length=1, description="The columns and their types.")
    transforms: list[Transform] = Field(default_factory=list)
    splits: Splits | None = None
    license: NonEmptyStr | None = Field(default=None, description="SPDX identifier of the data's license, e.g. cc-by-4.0.")
    resources: Resources = Field(default_factory=Resources, description="What the prepare task asks Ray for.")

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names other resources may reference with ``@``."""
        return tuple(self.splits.fractions) if self.splits else ()

    def references(self) -> list[tuple[RefPath, Ref]]:
        return [(("source", "dataset"), self.source.dataset)] if self.source.dataset else []
