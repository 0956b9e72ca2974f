"""EvalGate: the metrics a model must reach on a dataset before it may ship."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from llmops_spec.base import INT_MAX, Identifier, NonEmptyStr, RefPath, SpecBase, Strict
from llmops_spec.metrics import METRICS
from llmops_spec.refs import Ref, ref_to
from llmops_spec.resources import Resources


class Grader(Strict):
    """The model that grades answers, for model-graded metrics; pinned so scores stay comparable."""

    model: ref_to("Model") | None = None
    hub: NonEmptyStr | None = None
    revision: NonEmptyStr | None = None


class Threshold(Strict):
    metric: NonEmptyStr = Field(json_schema_extra={"enum": sorted(METRICS)})
    min: float | None = Field(default=None, description="Fail below this value.")
    max: float | None = Field(default=None, description="Fail above this value.")
    slice_by: Identifier | None = Field(default=None, description="Check the threshold on every value of this column.")
    min_slice_samples: int = Field(10, ge=1, le=INT_MAX)
    wilson: bool = Field(False, description="Compare the Wilson 95% lower bound of a rate, not the point estimate.")
    grader: Grader | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise PydanticCustomError("llmops_unknown_metric", "unknown metric '{metric}'",
                                      {"metric": metric, "choices": sorted(METRICS)})
        return metric

    @model_validator(mode="after")
    def _in_domain(self) -> Threshold:
        info = METRICS[self.metric]
        if self.min is None and self.max is None:
            raise PydanticCustomError("llmops_missing", "give min or max for {metric}",
                                      {"metric": self.metric,
                                       "hint": f"{'min' if info.higher_is_better else 'max'}: <threshold>"})
        for side, bound in (("min", self.min), ("max", self.max)):
            if bound is None:
                continue
            if (info.lower is not None and bound < info.lower) or (info.upper is not None and bound > info.upper):
                domain = f"[{_num(info.lower)}, {_num(info.upper)}]"
                hint = f"{self.metric} ranges over {domain}"
                if info.upper == 1 and 1 < bound <= 100:
                    hint += f"; for {bound:g}% write {bound / 100:g}"
                raise PydanticCustomError("llmops_metric_domain", "{metric} threshold {bound} is outside {domain}",
                                          {"metric": self.metric, "bound": _num(bound), "domain": domain,
                                           "hint": hint, "field": side})
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("llmops_range", "min ({lo}) is above max ({hi})",
                                      {"lo": _num(self.min), "hi": _num(self.max), "field": "min",
                                       "hint": "a metric passes when min <= value <= max"})
        if self.wilson and not (info.lower == 0 and info.upper == 1):
            raise PydanticCustomError("llmops_conflict", "wilson applies to rates in [0, 1]; {metric} is not one",
                                      {"metric": self.metric, "field": "wilson", "hint": "remove wilson: true"})
        return self


def _num(value: float | None) -> str:
    return "inf" if value is None else f"{value:g}"


class Baseline(Strict):
    deployment: ref_to("Deployment")
    max_regression: float = Field(0.0, ge=0, description="How far below the deployed model's metric the candidate may fall.")
    metrics: list[NonEmptyStr] | None = Field(
        default=None, min_length=1,
        description="The gated metrics compared with the deployed model's; all of them when unset. Leave out timings "
                    "(latency_p95_ms) to keep a noisy measurement from blocking a retrain: their own max still holds.")


class EvalGateSpec(SpecBase):
    model: ref_to("Model")
    dataset: ref_to("Dataset", outputs=True)
    prompt: ref_to("Prompt") | None = None
    min_samples: int = Field(1, ge=1, le=INT_MAX, description="Fail closed when the dataset has fewer rows.")
    metrics: list[Threshold] = Field(min_length=1)
    baseline: Baseline | None = None
    batch_size: int = Field(32, ge=1, le=65536)
    on_fail: Literal["block", "warn"] = "block"
    resources: Resources = Field(default_factory=Resources, description="What the evaluate task asks Ray for.")

    @model_validator(mode="after")
    def _baseline_metrics_are_gated(self) -> EvalGateSpec:
        gated = sorted(dict.fromkeys(t.metric for t in self.metrics if t.slice_by is None))
        for i, name in enumerate(self.baseline.metrics or () if self.baseline else ()):
            if name not in gated:
                raise PydanticCustomError(
                    "llmops_baseline_metric", "baseline.metrics names '{metric}', which no threshold gates on the whole dataset",
                    {"metric": name, "field": ("baseline", "metrics", i),
                     "hint": f"name one of: {', '.join(gated)}" if gated else "gate a metric without slice_by first"})
        return self

    def references(self) -> list[tuple[RefPath, Ref]]:
        refs: list[tuple[RefPath, Ref]] = [(("model",), self.model), (("dataset",), self.dataset)]
        if self.prompt:
            refs.append((("prompt",), self.prompt))
        refs.extend((("metrics", i, "grader", "model"), t.grader.model)
                    for i, t in enumerate(self.metrics) if t.grader and t.grader.model)
        if self.baseline:
            refs.append((("baseline", "deployment"), self.baseline.deployment))
        return refs

    def upstream(self) -> list[Ref]:
        # The baseline is what is deployed when the gate runs, not an input: an edge would be a cycle.
        return [ref for path, ref in self.references() if path[0] != "baseline"]
