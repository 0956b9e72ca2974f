"""The evaluate step on real models: metrics.json in the gate's shape, predictions, the confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops_spec.evalgate import EvalGateSpec
from llmops_spec.prompt import PromptSpec
from runners.step import NodeFailed, StepContext
from tests.test_finetune import (FACTS, LABELS, causal_spec, classifier_spec, fact_rows, run_model, ticket_rows,
                                 write_rows)


def gate_spec(*metrics: dict[str, Any], **fields: Any) -> EvalGateSpec:
    return EvalGateSpec.model_validate({"model": "Model/m", "dataset": "Dataset/d@eval", "metrics": list(metrics), **fields})


def evaluate(tmp_path: Path, model_dir: Path, spec: EvalGateSpec, rows: list[dict[str, Any]], name: str = "eval",
             prompt: PromptSpec | None = None) -> tuple[Path, Any]:
    from runners.steps import evaluate as step

    out = tmp_path / name
    out.mkdir()
    data = write_rows(tmp_path / f"{name}.jsonl", rows)
    ctx = StepContext(root=tmp_path, node="EvalGate/g:evaluate", step="evaluate", resource="EvalGate/g", spec=spec, out=out,
                      inputs={"Model/m": model_dir, "Dataset/d@eval": data}, specs={"Prompt/p": prompt} if prompt else {},
                      extra={"num_cpus": 1})
    return out, step.run(ctx)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    out, _ = run_model(tmp_path_factory.mktemp("classifier"), classifier_spec(post=["merge_adapter"]), ticket_rows(48))
    return out


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> Path:
    out, _ = run_model(tmp_path_factory.mktemp("generator"), causal_spec("llama"), fact_rows())
    return out


def test_classifier_metrics_slices_predictions_and_confusion_matrix(tmp_path, classifier):
    spec = gate_spec({"metric": "f1_macro", "min": 0.5}, {"metric": "latency_p95_ms", "max": 1000},
                     {"metric": "accuracy", "slice_by": "language", "min": 0.5}, batch_size=7)
    rows = ticket_rows(30, seed=5)
    out, result = evaluate(tmp_path, classifier, spec, rows)
    body = json.loads((out / "metrics.json").read_text())
    assert set(body) == {"task", "labels", "n", "metrics", "slices", "counts", "model"}  # model: what was evaluated
    assert body["task"] == "sequence-classification" and body["labels"] == LABELS and body["n"] == 30
    assert set(body["metrics"]) == {"accuracy", "f1_macro", "latency_p95_ms"}  # only what the gate names, plus accuracy
    assert body["metrics"]["accuracy"] >= 0.8 and body["metrics"]["latency_p95_ms"] > 0
    assert body["counts"]["accuracy"]["n"] == 30
    assert body["counts"]["accuracy"]["successes"] == round(body["metrics"]["accuracy"] * 30)
    assert set(body["slices"]["language"]) == {"de", "en"} and body["slices"]["language"]["en"]["n"] == 15
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 30 and predictions[0]["id"] == "r0" and predictions[0]["language"] == "de"
    assert sum(p["correct"] for p in predictions) == body["counts"]["accuracy"]["successes"]
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.metrics["n"] == 30 and result.metrics["f1_macro"] == body["metrics"]["f1_macro"]


def test_evaluation_is_reproducible(tmp_path, classifier):
    spec = gate_spec({"metric": "recall_macro", "min": 0.1}, {"metric": "precision_macro", "slice_by": "language", "min": 0.1})
    rows = ticket_rows(20, seed=9)
    first, _ = evaluate(tmp_path, classifier, spec, rows, name="a")
    second, _ = evaluate(tmp_path, classifier, spec, rows, name="b")
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()
    assert (first / "predictions.jsonl").read_text() == (second / "predictions.jsonl").read_text()


def test_generation_metrics_on_a_causal_lm(tmp_path, generator):
    spec = gate_spec(*({"metric": name, "min": 0.1} for name in ("exact_match", "bleu", "rouge_l")),
                     {"metric": "perplexity", "max": 100}, {"metric": "latency_p50_ms", "max": 1000},
                     {"metric": "exact_match", "slice_by": "kind", "min": 0.1})
    rows = fact_rows(1)
    out, _ = evaluate(tmp_path, generator, spec, rows)
    body = json.loads((out / "metrics.json").read_text())
    assert body["task"] == "causal-lm" and body["labels"] is None and body["n"] == len(FACTS)
    values = body["metrics"]
    assert set(values) == {"accuracy", "exact_match", "bleu", "rouge_l", "perplexity", "latency_p50_ms"}
    assert values["exact_match"] >= 0.83 and values["rouge_l"] >= values["exact_match"]
    assert 1 <= values["perplexity"] < 2   # the answers are learnt: little surprise left
    assert set(body["slices"]["kind"]) == {"color", "sound"} and body["counts"]["exact_match"]["n"] == 6
    assert not (out / "confusion_matrix.png").exists()


def test_the_gates_prompt_builds_the_inputs(tmp_path, classifier):
    prompt = PromptSpec.model_validate({"template": "{{ body }}", "variables": {"body": {"from": "Dataset/d", "column": "text"}}})
    rows = [{key: value for key, value in row.items()} for row in ticket_rows(6)]
    out, _ = evaluate(tmp_path, classifier, gate_spec({"metric": "accuracy", "min": 0.1}, prompt="Prompt/p"), rows, prompt=prompt)
    first = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])
    assert first["input"] == rows[0]["text"]


def test_an_empty_split_reports_no_metrics_so_the_gate_fails_closed(tmp_path, classifier):
    out, result = evaluate(tmp_path, classifier, gate_spec({"metric": "accuracy", "min": 0.5}), [])
    body = json.loads((out / "metrics.json").read_text())
    assert body["n"] == 0 and body["metrics"] == {} and result.metrics["n"] == 0


@pytest.mark.parametrize(("metric", "message"), [
    ({"metric": "llm_judge_score", "min": 0.5}, "does not compute llm_judge_score"),
    ({"metric": "bleu", "min": 0.5}, "bleu applies to causal-lm models; Model/m is a sequence-classification"),
    ({"metric": "accuracy", "slice_by": "region", "min": 0.5}, "slice_by region: the rows of Dataset/d@eval have no such column"),
])
def test_gates_the_evaluator_cannot_serve_fail_clearly(tmp_path, classifier, metric, message):
    with pytest.raises(NodeFailed, match=message) as failure:
        evaluate(tmp_path, classifier, gate_spec(metric), ticket_rows(3))
    assert failure.value.hint and failure.value.retryable is False


def test_rows_without_the_target_column_fail_clearly(tmp_path, classifier):
    rows = [{"text": "no label here"}]
    with pytest.raises(NodeFailed, match="a row has no target column 'label'"):
        evaluate(tmp_path, classifier, gate_spec({"metric": "accuracy", "min": 0.5}), rows)
