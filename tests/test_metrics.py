"""Metrics, the evaluation report and the training schedule: pure functions against values worked out by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from llmops_spec.evalgate import EvalGateSpec
from runners.modeling import metrics as m
from runners.modeling.evaluation import Scored, Wanted, compute, report, wanted_metrics
from runners.modeling.training import linear_rate, schedule_for

REFS = ["a", "a", "b", "b", "c"]
PREDS = ["a", "b", "b", "b", "a"]


def test_accuracy_and_exact_match():
    assert m.accuracy(REFS, PREDS) == pytest.approx(3 / 5)
    assert m.matches([" yes ", "no"], ["yes", "No"]) == 1  # outer whitespace ignored, case kept
    assert m.exact_match(["the  big\ncat", "x"], ["the big cat ", "y"]) == 0.5  # inner whitespace collapsed
    assert m.accuracy([], []) == 0.0


def test_macro_precision_recall_f1_by_hand():
    # a: tp 1 of 2 predicted, 2 actual -> P .5 R .5 F1 .5; b: tp 2 of 3 predicted, 2 actual -> P 2/3 R 1 F1 .8;
    # c: never predicted, 1 actual -> 0 0 0.
    precision, recall, f1 = m.precision_recall_f1_macro(REFS, PREDS)
    assert precision == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert recall == pytest.approx((0.5 + 1 + 0) / 3)
    assert f1 == pytest.approx((0.5 + 0.8 + 0) / 3)


def test_macro_scores_are_perfect_on_perfect_predictions():
    assert m.precision_recall_f1_macro(REFS, REFS) == (1.0, 1.0, 1.0)


def test_confusion_matrix_rows_are_references():
    assert m.confusion_matrix(REFS, PREDS, ["a", "b", "c"]) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_corpus_bleu_by_hand():
    # hyp "the cat the mat" vs ref "the cat is on the mat":
    # 1-grams 4/4; 2-grams 2/3 -> (2+1)/(3+1); 3-grams 0/2 -> 1/3; 4-grams 0/1 -> 1/2; BP = exp(1 - 6/4).
    expected = math.exp(1 - 6 / 4) * (1 * 3 / 4 * 1 / 3 * 1 / 2) ** 0.25
    assert m.corpus_bleu(["the cat is on the mat"], ["the cat the mat"]) == pytest.approx(expected)


def test_corpus_bleu_edges():
    assert m.corpus_bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(1.0)
    assert m.corpus_bleu(["a b c"], ["x y z"]) == 0.0   # no unigram match: no smoothing saves it
    assert m.corpus_bleu(["a b"], [""]) == 0.0
    # corpus-level: counts add up over sentences before the ratio is taken
    both = m.corpus_bleu(["the cat is on the mat", "a b c d"], ["the cat the mat", "a b c d"])
    assert 0 < both < 1 and both > m.corpus_bleu(["the cat is on the mat"], ["the cat the mat"])


def test_rouge_l_by_hand():
    # LCS("the cat is on the mat", "the cat the mat") = 4: P 4/4, R 4/6, F = 2PR/(P+R) = 0.8
    assert m.rouge_l(["the cat is on the mat"], ["the cat the mat"]) == pytest.approx(0.8)
    assert m.rouge_l_pair("", "") == 1.0
    assert m.rouge_l_pair("a b", "") == 0.0
    assert m.rouge_l(["a b", "c"], ["a b", "d"]) == pytest.approx(0.5)
    assert m.longest_common_subsequence("ABCBDAB", "BDCABA") == 4


def test_perplexity_and_percentiles():
    assert m.perplexity(2 * math.log(4), 2) == pytest.approx(4.0)
    assert m.perplexity(1.0, 0) == math.inf
    assert m.percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)
    assert m.percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert m.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        m.percentile([], 50)


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        m.accuracy(["a", "b"], ["a"])


def _gate(*metrics):
    return EvalGateSpec.model_validate({"model": "Model/m", "dataset": "Dataset/d@eval", "metrics": list(metrics)})


def test_wanted_metrics_are_the_gates_plus_accuracy():
    gate = _gate({"metric": "f1_macro", "min": 0.8}, {"metric": "latency_p95_ms", "max": 50},
                 {"metric": "recall_macro", "slice_by": "language", "min": 0.5})
    wanted = wanted_metrics(gate.metrics)
    assert wanted.overall == ("accuracy", "f1_macro", "latency_p95_ms")
    assert dict(wanted.by_slice) == {"language": ("accuracy", "recall_macro")}


def test_compute_only_what_is_asked_with_counts_for_rates():
    rows = [Scored(r, p, {}) for r, p in zip(REFS, PREDS)]
    values, counts = compute(("accuracy", "f1_macro"), rows)
    assert values == {"accuracy": 0.6, "f1_macro": round((0.5 + 0.8) / 3, 6)}
    assert counts == {"accuracy": {"successes": 3, "n": 5}}


def test_latency_and_perplexity_use_only_measured_rows():
    rows = [Scored("a", "a", {}, latency_ms=10.0, nll=(math.log(2), 1)), Scored("a", "b", {}, latency_ms=30.0),
            Scored("a", "a", {}, nll=(math.log(8), 1))]
    values, _ = compute(("latency_p50_ms", "perplexity"), rows)
    assert values == {"latency_p50_ms": 20.0, "perplexity": 4.0}
    assert compute(("latency_p95_ms",), [Scored("a", "a", {})])[0] == {}


def test_report_shape_with_slices():
    rows = [Scored("x", "x", {"lang": "en"}), Scored("y", "x", {"lang": "en"}), Scored("y", "y", {"lang": "de"})]
    body = report("sequence-classification", ["x", "y"], Wanted(("accuracy",), {"lang": ("accuracy",)}), rows)
    assert body == {
        "task": "sequence-classification", "labels": ["x", "y"], "n": 3,
        "metrics": {"accuracy": round(2 / 3, 6)},
        "slices": {"lang": {"de": {"n": 1, "metrics": {"accuracy": 1.0}, "counts": {"accuracy": {"successes": 1, "n": 1}}},
                            "en": {"n": 2, "metrics": {"accuracy": 0.5}, "counts": {"accuracy": {"successes": 1, "n": 2}}}}},
        "counts": {"accuracy": {"successes": 2, "n": 3}},
    }


def test_report_of_no_rows_has_no_metrics():
    body = report("causal-lm", None, Wanted(("accuracy", "bleu"), {}), [])
    assert body["n"] == 0 and body["metrics"] == {} and body["counts"] == {} and body["labels"] is None


def _training(**overrides):
    values = {"epochs": 1.0, "batch_size": 16, "gradient_accumulation_steps": 1, "max_steps": None, "warmup_ratio": 0.0}
    return SimpleNamespace(**{**values, **overrides})


def test_schedule_counts_optimizer_steps():
    # 100 rows / 16 = 7 micro-batches; accumulating 2 -> 4 steps an epoch; 1.5 epochs -> 6; warmup ceil(0.6) = 1
    schedule = schedule_for(100, _training(epochs=1.5, gradient_accumulation_steps=2, warmup_ratio=0.1))
    assert (schedule.micro_batches_per_epoch, schedule.steps_per_epoch, schedule.total_steps, schedule.warmup_steps) == (7, 4, 6, 1)
    assert schedule_for(100, _training(epochs=3, max_steps=5)).total_steps == 5
    assert schedule_for(0, _training()).total_steps == 0


def test_linear_rate_warms_up_then_decays_to_zero():
    schedule = schedule_for(96, _training(epochs=1, warmup_ratio=0.2))  # 6 steps, 2 of warmup
    assert [round(linear_rate(step, schedule), 4) for step in range(6)] == [0.3333, 0.6667, 1.0, 0.75, 0.5, 0.25]
    flat = schedule_for(64, _training())  # 4 steps, no warmup: starts at the full rate
    assert linear_rate(0, flat) == 1.0 and linear_rate(3, flat) == 0.25
