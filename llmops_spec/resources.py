"""What a node's Ray task asks the cluster for: CPUs, GPUs, memory, custom resources, an accelerator type.

Every step kind that computes takes these: a Dataset's ``prepare``, a Model's ``import`` and
``finetune``, an EvalGate's ``evaluate``. Bookkeeping steps (a Prompt, a gate's verdict) take
milliseconds and ask for nothing; a Deployment's replicas have ``serve.ray_actor_options``.
The names are Ray's (``ray.remote(num_cpus=..., num_gpus=..., resources=..., accelerator_type=...)``),
except ``memory_gb`` (Ray counts bytes) and ``custom`` (Ray's ``resources``, which would read
``resources.resources`` here). None of them enters a fingerprint: they say where and how fast a
node runs, not what it produces (docs/lock-format.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from llmops_spec.base import Strict

RESERVED = frozenset({"CPU", "GPU", "memory", "object_store_memory"})
"""Ray's own resource names: asked for through their fields, never as custom resources."""

ResourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-/]*$", max_length=128)]
AcceleratorType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]


class Resources(Strict):
    """One task's request; it runs only on a node that has all of it."""

    num_cpus: float = Field(1, ge=0, le=4096, description="CPUs for the task; torch uses as many threads.")
    num_gpus: float = Field(0, ge=0, le=64, description="GPUs for the task; above 0, the step computes on CUDA.")
    memory_gb: float | None = Field(default=None, gt=0, le=1_048_576, description="Memory to reserve, in GiB.")
    accelerator_type: AcceleratorType | None = Field(
        default=None, description="Only nodes with this accelerator, as Ray names it (e.g. A100, H100, L4); needs num_gpus.")
    custom: dict[ResourceName, Annotated[float, Field(gt=0, le=1_000_000)]] = Field(
        default_factory=dict, description="Ray custom resources, e.g. {ssd: 1}: only nodes started with them.")

    @model_validator(mode="after")
    def _consistent(self) -> Resources:
        check_resource_request(self.num_gpus, self.accelerator_type, self.custom, "custom")
        return self


def check_resource_request(num_gpus: float, accelerator_type: str | None, custom: dict[str, float], field: str) -> None:
    """An accelerator type needs a GPU; a custom resource is none of Ray's own (also for a Deployment's replicas)."""
    if accelerator_type is not None and num_gpus == 0:
        raise PydanticCustomError("llmops_conflict", "accelerator_type {kind} is set but num_gpus is 0",
                                  {"kind": accelerator_type, "field": "accelerator_type",
                                   "hint": "ask for the GPU too, e.g. num_gpus: 1, or remove accelerator_type"})
    reserved = sorted(RESERVED.intersection(custom))  # (accelerator_type:X cannot be written: no colons)
    if reserved:
        raise PydanticCustomError("llmops_conflict", "custom resource {name} is one of Ray's own",
                                  {"name": reserved[0], "field": field,
                                   "hint": "ask for it with num_cpus, num_gpus, memory_gb or accelerator_type"})


class DatasetResources(Resources):
    """A Dataset's prepare request, and how much of the data it holds in memory at once."""

    block_rows: int = Field(65_536, ge=1, le=16_777_216, description=(
        "Rows a block holds while prepare streams the data: memory grows with it, the output does not change."))


class ModelResources(Resources):
    """A Model's request: per training worker when ``workers`` is above 1."""

    workers: int = Field(1, ge=1, le=1024, description=(
        "Data-parallel training workers (Ray Train, DDP), each with the resources above; every global batch "
        "of batch_size rows is split between them, so the result does not depend on their number."))

    @model_validator(mode="after")
    def _whole_gpus_per_worker(self) -> ModelResources:
        if self.workers > 1 and 0 < self.num_gpus < 1:
            raise PydanticCustomError("llmops_conflict", "{workers} workers with {gpus} GPU each would share a GPU",
                                      {"workers": self.workers, "gpus": self.num_gpus, "field": "num_gpus",
                                       "hint": "NCCL runs one worker per GPU: give each worker num_gpus: 1 or more"})
        return self
