"""The evaluate step of an EvalGate: the model's answers on the gate's dataset, scored.

Writes ``metrics.json`` (read by the gate step; shape in runners/modeling/evaluation.py and
docs/artifacts.md; ``model`` names the model evaluated, its node, fingerprint and artifact
md5, as the driver pinned it: a deployment serves only that model, runners/deploy_gates.py), ``predictions.jsonl`` (one line per row) and, for a classifier,
``confusion_matrix.png``. Inputs are built as the model was trained: the gate's prompt
when it names one, else the model's training prompt, else the model's text column.
Answers come from the same Predictor that serves (int8 applied when the model asks for it),
in batches of ``batch_size``; latency is single-request latency on an even sample of rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from runners.modeling.evaluation import EVALUATED, LATENCY_METRICS, Scored, all_names, report, wanted_metrics
from runners.modeling.examples import Example, build_examples, example_builder, read_rows
from runners.modeling.loading import CLASSIFICATION
from runners.step import NodeFailed, StepContext, StepResult

LATENCY_SAMPLE = 100   # rows timed one by one for the latency percentiles
LATENCY_WARMUP = 3
LATENCY_THREADS = 1


def run(ctx: StepContext) -> StepResult:
    from llmops_spec.metrics import METRICS
    from runners.modeling.artifacts import read_manifest
    from runners.modeling.predictor import load_predictor
    from runners.modeling.runtime import use_threads

    spec = ctx.spec
    threads = use_threads(ctx.extra.get("num_cpus"))
    wanted = wanted_metrics(spec.metrics)
    names = all_names(wanted)
    model_dir = ctx.input(spec.model)
    manifest = read_manifest(model_dir)
    _check_metrics(names, manifest.task, str(spec.model), METRICS)
    examples = _examples(ctx, manifest)
    for column in wanted.by_slice:
        if examples and column not in examples[0].row:
            raise NodeFailed(f"slice_by {column}: the rows of {spec.dataset} have no such column",
                             f"the rows have: {', '.join(sorted(examples[0].row))}", retryable=False)
    predictor = load_predictor(model_dir, batch_size=spec.batch_size, num_gpus=float(ctx.extra.get("num_gpus", 0) or 0),
                               what=ctx.node)
    texts = [e.text for e in examples]
    started = time.perf_counter()
    predictions = predictor.predict(texts)
    batch_seconds = time.perf_counter() - started
    latencies = _latencies(predictor, texts) if names & set(LATENCY_METRICS) else {}
    losses = predictor.token_losses(texts, [e.target for e in examples]) if "perplexity" in names else None
    scored = [Scored(e.target or "", prediction, {c: _text(e.row.get(c)) for c in wanted.by_slice},
                     latencies.get(i), losses[i] if losses else None)
              for i, (e, prediction) in enumerate(zip(examples, predictions))]
    body = report(manifest.task, manifest.labels, wanted, scored)
    body["model"] = ctx.extra.get("evaluated_model") or {}
    _write(ctx, body, examples, scored, manifest)
    shown = ", ".join(f"{k} {v:.4g}" for k, v in body["metrics"].items())
    return StepResult(metrics={"n": body["n"], **body["metrics"], "rows_per_second": _rate(len(texts), batch_seconds),
                               "threads": threads},
                      summary=f"{body['n']} rows: {shown}",
                      details={"model_weights": manifest.weights, "quantize": manifest.quantize,
                               "latency": {"rows": len(latencies), "threads": LATENCY_THREADS} if latencies else None})


def _check_metrics(names: set[str], task: str, model: str, catalog: dict[str, Any]) -> None:
    unsupported = sorted(names - EVALUATED)
    if unsupported:
        raise NodeFailed(f"the evaluator does not compute {', '.join(unsupported)} (model-graded metrics need a grader run)",
                         f"remove {unsupported[0]} from the gate's metrics, or gate on: {', '.join(sorted(EVALUATED))}",
                         retryable=False)
    for name in sorted(names):
        if task not in catalog[name].tasks:
            raise NodeFailed(f"{name} applies to {' and '.join(catalog[name].tasks)} models; {model} is a {task}",
                             f"gate {model} on: {', '.join(sorted(n for n in EVALUATED if task in catalog[n].tasks))}",
                             retryable=False)


def _examples(ctx: StepContext, manifest: Any) -> list[Example]:
    spec = ctx.spec
    if spec.prompt:
        prompt = ctx.specs[str(spec.prompt)]
    elif manifest.prompt:
        from llmops_spec.prompt import PromptSpec

        prompt = PromptSpec.model_validate(manifest.prompt, strict=False)
    else:
        prompt = None
    rows = read_rows(ctx.input(spec.dataset))
    build = example_builder(prompt, manifest.text_column, manifest.label_column, target_required=True)
    return build_examples(rows, build)


def _latencies(predictor: Any, texts: Sequence[str]) -> dict[int, float]:
    """Single-request latency in ms for an even sample of rows, after a short warm-up, on one torch thread.

    One thread is how a Serve replica of one CPU or less answers; it is also the figure that
    holds on a busy machine, where two threads meeting at every operator's barrier wait on
    each other's time slices and a single request gets many times slower.
    """
    import torch

    from runners.modeling.runtime import use_threads

    if not texts:
        return {}
    k = min(LATENCY_SAMPLE, len(texts))
    sample = sorted({round(i * (len(texts) - 1) / max(1, k - 1)) for i in range(k)})
    previous = torch.get_num_threads()
    use_threads(LATENCY_THREADS)
    try:
        for i in sample[:LATENCY_WARMUP]:
            predictor.predict([texts[i]])
        timings: dict[int, float] = {}
        for i in sample:
            started = time.perf_counter()
            predictor.predict([texts[i]])
            timings[i] = (time.perf_counter() - started) * 1000
    finally:
        use_threads(previous)
    return timings


def _write(ctx: StepContext, body: dict[str, Any], examples: Sequence[Example], scored: Sequence[Scored],
           manifest: Any) -> None:
    (ctx.out / "metrics.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with (ctx.out / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for i, (example, row) in enumerate(zip(examples, scored)):
            line = {"row": i, **({"id": example.row["id"]} if "id" in example.row else {}), "input": example.text,
                    "reference": row.reference, "prediction": row.prediction,
                    "correct": row.reference.strip() == row.prediction.strip(), **dict(row.slices)}
            if row.latency_ms is not None:
                line["latency_ms"] = round(row.latency_ms, 3)
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    if manifest.task == CLASSIFICATION and manifest.labels:
        from runners.modeling.metrics import confusion_matrix
        from runners.modeling.plots import plot_confusion

        matrix = confusion_matrix([r.reference for r in scored], [r.prediction for r in scored], manifest.labels)
        plot_confusion(ctx.out / "confusion_matrix.png", matrix, manifest.labels,
                       f"{ctx.resource} on {ctx.spec.dataset} ({len(scored)} rows)")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0
