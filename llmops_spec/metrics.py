"""The metrics an EvalGate may name, with the domain of each and its better direction."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    lower: float | None  # smallest meaningful value (None: unbounded)
    upper: float | None  # largest meaningful value
    higher_is_better: bool
    tasks: tuple[str, ...]  # the model tasks it applies to
    description: str
    model_graded: bool = False


_CLS = ("sequence-classification",)
_GEN = ("causal-lm",)
_ANY = ("sequence-classification", "causal-lm")

METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("accuracy", 0, 1, True, _ANY, "share of exact label matches"),
        MetricInfo("precision_macro", 0, 1, True, _CLS, "precision averaged over labels"),
        MetricInfo("recall_macro", 0, 1, True, _CLS, "recall averaged over labels"),
        MetricInfo("f1_macro", 0, 1, True, _CLS, "F1 averaged over labels"),
        MetricInfo("exact_match", 0, 1, True, _GEN, "share of generations equal to the reference"),
        MetricInfo("bleu", 0, 1, True, _GEN, "corpus BLEU-4 against the reference"),
        MetricInfo("rouge_l", 0, 1, True, _GEN, "ROUGE-L F-measure against the reference"),
        MetricInfo("perplexity", 1, None, False, _GEN, "exp of the mean token loss"),
        MetricInfo("latency_p50_ms", 0, None, False, _ANY, "median single-request latency"),
        MetricInfo("latency_p95_ms", 0, None, False, _ANY, "95th percentile single-request latency"),
        MetricInfo("latency_p99_ms", 0, None, False, _ANY, "99th percentile single-request latency"),
        MetricInfo("llm_judge_score", 0, 1, True, _GEN, "mean score given by a grader model", model_graded=True),
    )
}
