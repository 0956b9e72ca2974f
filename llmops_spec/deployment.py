"""Deployment: a gated model served by Ray Serve, with its rollout."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from llmops_spec.base import INT_MAX, NonEmptyStr, RefPath, SpecBase, Strict
from llmops_spec.refs import Ref, ref_to
from llmops_spec.resources import AcceleratorType, ResourceName, check_resource_request


class Autoscaling(Strict):
    min_replicas: int = Field(1, ge=0, le=10_000)
    max_replicas: int = Field(1, ge=1, le=10_000)
    target_ongoing_requests: float = Field(2, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise PydanticCustomError("llmops_range", "min_replicas ({lo}) is above max_replicas ({hi})",
                                      {"lo": self.min_replicas, "hi": self.max_replicas, "field": "min_replicas",
                                       "hint": "autoscaling keeps between min_replicas and max_replicas replicas"})
        return self


class ActorOptions(Strict):
    num_cpus: float = Field(1, ge=0)
    num_gpus: float = Field(0, ge=0, description="GPUs per replica; above 0 the replica serves from CUDA.")
    memory: int | None = Field(default=None, gt=0, le=2**53, description="Bytes of memory to reserve.")
    accelerator_type: AcceleratorType | None = Field(
        default=None, description="Only nodes with this accelerator, as Ray names it (e.g. A100, L4); needs num_gpus.")
    resources: dict[ResourceName, Annotated[float, Field(gt=0, le=1_000_000)]] | None = Field(
        default=None, description="Ray custom resources per replica, e.g. {ssd: 1}.")

    @model_validator(mode="after")
    def _consistent(self) -> ActorOptions:
        check_resource_request(self.num_gpus, self.accelerator_type, self.resources or {}, "resources")
        return self


class Serve(Strict):
    route_prefix: str = Field("/", pattern=r"^/[A-Za-z0-9_./-]*$")
    num_replicas: int = Field(1, ge=0, le=10_000)
    max_ongoing_requests: int = Field(16, ge=1, le=INT_MAX)
    autoscaling: Autoscaling | None = None
    ray_actor_options: ActorOptions = Field(default_factory=ActorOptions)
    health_check_period_s: float = Field(10, gt=0)


class Rollout(Strict):
    strategy: Literal["replace", "canary"] = "replace"
    steps: list[int] = Field(default_factory=lambda: [100], min_length=1,
                             description="Percent of traffic on the new version at each step; ends at 100.")

    @model_validator(mode="after")
    def _steps(self) -> Rollout:
        if any(not 0 < s <= 100 for s in self.steps) or self.steps != sorted(set(self.steps)) or self.steps[-1] != 100:
            raise PydanticCustomError("llmops_range", "rollout steps must rise strictly from above 0 to 100, got {steps}",
                                      {"steps": self.steps, "field": "steps",
                                       "hint": "percent of traffic on the new version at each step, e.g. steps: [10, 50, 100]"})
        return self


class DeploymentSpec(SpecBase):
    model: ref_to("Model")
    prompt: ref_to("Prompt") | None = None
    requires: list[ref_to("EvalGate")] = Field(default_factory=list, description="Gates that must have passed on this exact model.")
    environment: NonEmptyStr = "dev"
    serve: Serve = Field(default_factory=Serve)
    rollout: Rollout = Field(default_factory=Rollout)
    env_vars: dict[str, Any] = Field(default_factory=dict)

    def references(self) -> list[tuple[RefPath, Ref]]:
        refs: list[tuple[RefPath, Ref]] = [(("model",), self.model)]
        refs.extend((("requires", i), gate) for i, gate in enumerate(self.requires))
        if self.prompt:
            refs.append((("prompt",), self.prompt))
        return refs
