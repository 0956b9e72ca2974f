"""The Model steps: ``import`` (no finetune block: materialize the base) and ``finetune`` (LoRA or full).

Both write ``model/`` (weights and tokenizer), ``llmops_model.json`` (see
runners/modeling/artifacts.py); a fine-tune also writes ``loss.json`` and ``loss.png``.
Training is seeded from ``finetune.training.seed``: the same spec on the same data and
thread count gives the same loss curve and the same weights.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from llmops_spec.model import Lora
from runners.modeling.examples import Example, build_examples, example_builder, read_rows
from runners.modeling.loading import CLASSIFICATION
from runners.step import NodeFailed, StepContext, StepResult

DEFAULT_NEW_TOKENS = 32


def run(ctx: StepContext) -> StepResult:
    from runners.modeling.runtime import use_threads

    spec = ctx.spec
    workers = spec.resources.workers if spec.finetune else 1
    where = None
    if spec.finetune and workers == 1:  # before any work: a GPU it was given and cannot use fails now
        from runners.modeling.device import task_placement

        where = task_placement(ctx, spec.finetune.training.precision)
    # a data-parallel coordinator holds no CPU of its own (its workers do): it loads and encodes on one thread
    threads = use_threads(1 if workers > 1 else ctx.extra.get("num_cpus", spec.resources.num_cpus))
    examples = _training_examples(ctx) if spec.finetune else []
    from runners.modeling.bases import load_base

    base = load_base(ctx, [text for e in examples for text in (e.text, e.target) if text is not None])
    if spec.finetune is None:
        return _materialize(ctx, base, threads)
    return _finetune(ctx, base, examples, threads, where)


def _training_examples(ctx: StepContext) -> list[Example]:
    finetune = ctx.spec.finetune
    rows = read_rows(ctx.input(finetune.dataset))
    if not rows:
        raise NodeFailed(f"the training data {finetune.dataset} has no rows",
                         "check the Dataset's filters and splits (its report.json counts every transform)", retryable=False)
    prompt = ctx.specs.get(str(finetune.prompt)) if finetune.prompt else None
    build = example_builder(prompt, finetune.text_column, finetune.label_column,
                            target_required=ctx.spec.task == CLASSIFICATION)
    return build_examples(rows, build)


def _materialize(ctx: StepContext, base: Any, threads: int) -> StepResult:
    from runners.modeling.post import post_steps_as_written, quantization

    spec = ctx.spec
    base.model.save_pretrained(ctx.out / "model")
    base.tokenizer.save_pretrained(ctx.out / "model")
    manifest = _manifest(ctx, base, weights="full", base_weights=None, method=None, max_new_tokens=DEFAULT_NEW_TOKENS)
    _write(ctx, manifest)
    parameters = sum(p.numel() for p in base.model.parameters())
    post = ", ".join(str(s) for s in post_steps_as_written(spec.post)) or "none"
    return StepResult(metrics={"parameters": parameters, "threads": threads},
                      summary=f"imported {_describe(base.source)} ({parameters / 1e6:.1f}M parameters; post: {post})",
                      details={"base": base.source, "quantize": quantization(spec.post)})


def _finetune(ctx: StepContext, base: Any, examples: list[Example], threads: int, where: Any) -> StepResult:
    from runners.modeling.encoding import encode_causal, encode_classification, end_token, pad_token
    from runners.modeling.plots import plot_loss
    from runners.modeling.post import merge_adapter, wants_merge
    from runners.modeling.training import enable_gradient_checkpointing, lora_wrap, trainable_parameters

    spec = ctx.spec
    finetune, training = spec.finetune, spec.finetune.training
    tokenizer = base.tokenizer
    if spec.task == CLASSIFICATION:
        encoded = encode_classification(tokenizer, [e.text for e in examples], _label_ids(examples, spec.labels),
                                        training.max_seq_len)
        max_new_tokens = DEFAULT_NEW_TOKENS
    else:
        targets = [e.target for e in examples]
        encoded = encode_causal(tokenizer, [e.text for e in examples], targets, training.max_seq_len)
        max_new_tokens = _generation_budget(tokenizer, targets, training.max_seq_len, end_token(tokenizer) is not None)
    model = base.model
    merge = wants_merge(spec.post)
    base_weights: dict[str, Any] | None = None
    lora = finetune.lora or Lora()
    if training.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if finetune.method == "lora":
        if not merge:
            base_weights = base.by_name or _save_base_copy(ctx, base)
        model = lora_wrap(model, lora, spec.task)
    else:
        model.requires_grad_(True)
    trainable, total = trainable_parameters(model)
    curve = _train(ctx, model, encoded, pad_token(tokenizer), where)
    if finetune.method == "lora" and merge:
        model = merge_adapter(model)
    model.save_pretrained(ctx.out / "model")
    tokenizer.save_pretrained(ctx.out / "model")
    weights = "adapter" if base_weights is not None else "full"
    manifest = _manifest(ctx, base, weights=weights, base_weights=base_weights, method=finetune.method,
                         max_new_tokens=max_new_tokens, train_rows=len(examples), steps=len(curve.step),
                         final_loss=curve.loss[-1] if curve.loss else None)
    _write(ctx, manifest)
    (ctx.out / "loss.json").write_text(json.dumps(curve.as_json()) + "\n", encoding="utf-8")
    method = f"LoRA r={lora.r}" if finetune.method == "lora" else "full fine-tune"
    plot_loss(ctx.out / "loss.png", curve.step, curve.loss, f"{ctx.resource}: {method}, {len(examples)} rows")
    speed = curve.examples / curve.seconds if curve.seconds else 0.0
    first, last = (curve.loss[0], curve.loss[-1]) if curve.loss else (float("nan"), float("nan"))
    metrics = {"train_rows": len(examples), "steps": len(curve.step), "loss_first": round(first, 6),
               "loss_final": round(last, 6), "train_seconds": round(curve.seconds, 3),
               "samples_per_second": round(speed, 2), "trainable_parameters": trainable, "parameters": total,
               "threads": threads, "workers": spec.resources.workers}
    device = "cuda" if spec.resources.num_gpus else "cpu"
    on = f"{device}, {training.precision}" + (f", {spec.resources.workers} workers" if spec.resources.workers > 1 else "")
    return StepResult(metrics=metrics,
                      summary=f"{method}: {len(curve.step)} steps on {len(examples)} rows, loss {first:.3f} -> {last:.3f}, "
                              f"{curve.seconds:.1f} s ({speed:.0f} rows/s; {on})",
                      details={"base": base.source, "weights": weights})


def _train(ctx: StepContext, model: Any, encoded: list[Any], pad_id: int, where: Any) -> Any:
    """The loss curve of training ``model`` in place: here on ``where``'s device, or on Ray Train workers."""
    from runners.modeling.device import torch_device
    from runners.modeling.training import train

    spec = ctx.spec
    training = spec.finetune.training
    if spec.resources.workers > 1:
        from runners.modeling.distributed import train_distributed

        return train_distributed(ctx.node, model, encoded, pad_id, training, spec.resources)
    model.to(torch_device(where))
    try:
        return train(model, encoded, pad_id, training, where)
    finally:
        model.to("cpu")  # merge, save and the manifest work on the CPU copy; the GPU is free again


def _label_ids(examples: list[Example], labels: list[str]) -> list[int]:
    index = {label: i for i, label in enumerate(labels)}
    unknown = Counter(e.target for e in examples if e.target not in index)
    if unknown:
        shown = ", ".join(f"{value!r} ({count} rows)" for value, count in unknown.most_common(5))
        raise NodeFailed(f"the training data has labels the Model does not list: {shown}",
                         f"add them to the Model's labels ({', '.join(labels)}), or filter those rows out in the Dataset",
                         retryable=False)
    return [index[e.target] for e in examples]


def _generation_budget(tokenizer: Any, targets: list[str | None], max_len: int, has_end: bool) -> int:
    """New tokens a generation may take: the longest training target (+1 for its end token)."""
    present = [t for t in targets if t is not None]
    if not present:
        return DEFAULT_NEW_TOKENS
    longest = max(len(ids) for ids in tokenizer(present, add_special_tokens=False)["input_ids"])
    return max(1, min(max_len, longest + int(has_end)))


def _save_base_copy(ctx: StepContext, base: Any) -> dict[str, Any]:
    """A base that cannot be loaded again by name (a config, a path, another Model) is kept beside the adapter."""
    base.model.save_pretrained(ctx.out / "base")
    return {"folder": "base"}


def _manifest(ctx: StepContext, base: Any, **facts: Any) -> Any:
    from runners.modeling.artifacts import ModelManifest, library_versions
    from runners.modeling.post import post_steps_as_written, quantization

    from compiler.policy.redaction import redact_value  # the manifest goes to the remote: no secret's value in it

    spec = ctx.spec
    finetune = spec.finetune
    prompt = None
    if finetune and finetune.prompt:
        prompt = redact_value("prompt", ctx.specs[str(finetune.prompt)].model_dump(mode="json", by_alias=True,
                                                                                     exclude_none=True))
    facts.setdefault("seed", finetune.training.seed if finetune else 0)
    return ModelManifest(
        task=spec.task, labels=list(spec.labels) if spec.labels else None, base=base.source,
        post=post_steps_as_written(spec.post), quantize=quantization(spec.post),
        text_column=finetune.text_column if finetune else None, label_column=finetune.label_column if finetune else None,
        prompt=prompt, max_seq_len=finetune.training.max_seq_len if finetune else _model_max_len(base.tokenizer),
        spec=redact_value("spec", spec.model_dump(mode="json", by_alias=True, exclude_none=True)),
        versions=library_versions(), **facts)


def _model_max_len(tokenizer: Any) -> int:
    limit = getattr(tokenizer, "model_max_length", 512) or 512
    return int(min(limit, 512))


def _write(ctx: StepContext, manifest: Any) -> None:
    from runners.modeling.artifacts import write_manifest

    write_manifest(ctx.out, manifest)


def _describe(source: dict[str, Any]) -> str:
    if "package" in source:
        return f"package {source['package']} {source['version']}"
    if "hub" in source:
        return f"{source['hub']}@{source['revision']}"
    if "config" in source:
        return f"a {source['config'].get('architecture', 'gpt2')} built from config"
    if "path" in source:
        return f"path {source['path']}"
    return f"{source.get('model')}"
