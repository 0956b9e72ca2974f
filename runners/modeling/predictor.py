"""A loaded model that answers texts: a label for a classifier, a generation for a causal LM.

Shared by the evaluate step and the Ray Serve replica, so the gate scores exactly what
serves: the same weights, post steps (int8 applied at load), truncation and decoding.
One lock serializes calls: a fast tokenizer is not safe to call from two threads at once
("Already borrowed"), and two concurrent forwards on the same CPU threads gain nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runners.modeling.artifacts import ModelManifest
from runners.modeling.loading import CAUSAL_LM

DEFAULT_BATCH = 32


class Predictor:
    def __init__(self, model: Any, tokenizer: Any, manifest: ModelManifest, batch_size: int = DEFAULT_BATCH,
                 device: str = "cpu") -> None:
        self.model = model
        self.device = device  # where the model is; inputs follow it
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def labels(self) -> list[str] | None:
        return self.manifest.labels

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> list[str]:
        """One answer per text, computed ``batch_size`` texts at a time."""
        size = batch_size or self.batch_size
        answers: list[str] = []
        with self._lock:
            for start in range(0, len(texts), size):
                chunk = list(texts[start:start + size])
                answers.extend(self._generate(chunk) if self.task == CAUSAL_LM else self._classify(chunk))
        return answers

    def token_losses(self, texts: Sequence[str], targets: Sequence[str | None],
                     batch_size: int | None = None) -> list[tuple[float, int]]:
        """Per example: (summed negative log-likelihood, scored tokens) of the target given the text,
        encoded as in training (the whole text when there is no target). For perplexity."""
        import torch

        from runners.modeling.encoding import IGNORE, collate, encode_causal, pad_token

        if self.task != CAUSAL_LM:
            raise ValueError("token losses need a causal LM")
        size = batch_size or self.batch_size
        encoded = encode_causal(self.tokenizer, list(texts), list(targets), self.manifest.max_seq_len)
        results: list[tuple[float, int]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(encoded), size):
                batch = self._on(collate(encoded[start:start + size], pad_token(self.tokenizer)))
                labels = batch.pop("labels")
                logits = self.model(**batch).logits[:, :-1].float()
                gold = labels[:, 1:]
                losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), gold.clamp(min=0), reduction="none")
                scored = gold != IGNORE
                results.extend((float((losses * scored).sum(1)[i]), int(scored.sum(1)[i])) for i in range(len(gold)))
        return results

    def _classify(self, texts: list[str]) -> list[str]:
        import torch

        encoded = self._on(dict(self.tokenizer(texts, truncation=True, max_length=self.manifest.max_seq_len, padding=True,
                                               return_tensors="pt")))
        with torch.inference_mode():
            indices = self.model(**encoded).logits.argmax(-1).tolist()
        names = self.labels or []
        return [names[i] if i < len(names) else str(i) for i in indices]

    def _generate(self, texts: list[str]) -> list[str]:
        import torch

        from runners.modeling.encoding import Encoded, collate, end_token, pad_token

        budget = self.manifest.max_new_tokens
        room = max(1, self.manifest.max_seq_len - budget)
        prompts = [ids[len(ids) - room:] if len(ids) > room else ids
                   for ids in self.tokenizer(texts, add_special_tokens=True)["input_ids"]]
        batch = self._on(collate([Encoded(ids, None) for ids in prompts], pad_token(self.tokenizer), left=True))
        with torch.inference_mode():
            output = self.model.generate(**batch, max_new_tokens=budget, do_sample=False, num_beams=1,
                                         eos_token_id=end_token(self.tokenizer), pad_token_id=pad_token(self.tokenizer))
        new = output[:, batch["input_ids"].shape[1]:]
        return [text.strip() for text in self.tokenizer.batch_decode(new.cpu(), skip_special_tokens=True)]

    def _on(self, tensors: dict[str, Any]) -> dict[str, Any]:
        return tensors if self.device == "cpu" else {k: v.to(self.device) for k, v in tensors.items()}


def load_predictor(model_dir: Path, num_threads: int | None = None, batch_size: int = DEFAULT_BATCH,
                   num_gpus: float = 0.0, what: str = "the model") -> Predictor:
    """The predictor of a Model's artifact (its import/finetune output folder, or that folder's ``model/``).

    ``num_threads`` sizes torch's thread pool (a Serve replica passes its ``num_cpus``); the
    manifest's post steps apply here: int8 dynamic quantization after loading. ``num_gpus``: what
    the task or replica was given; above 0 the model computes on CUDA (runners/modeling/device.py),
    or NodeFailed says why it cannot (untested here: no GPU).
    """
    from runners.modeling.device import placement, seen, torch_device

    from runners.modeling.artifacts import load_trained
    from runners.modeling.post import quantize_int8
    from runners.modeling.runtime import use_threads

    if num_threads:
        use_threads(num_threads)
    model, tokenizer, manifest = load_trained(Path(model_dir))
    where = placement(num_gpus, "fp32", seen(), what, manifest.quantize)
    if manifest.quantize == "int8":
        model = quantize_int8(model)
    device = torch_device(where)
    if where.device != "cpu":
        model.to(device)
    return Predictor(model, tokenizer, manifest, batch_size, str(device))
