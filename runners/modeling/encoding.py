"""Token ids for training, scoring and generation, built one way so the three agree.

A classifier reads the text. A causal LM reads the text followed by the target and the
end-of-sequence token, and learns (is scored on) the target tokens only; with no target it
learns every token of the text. Long inputs lose the start of the text, never the target.
Batches are padded to their own longest sequence, not to ``max_seq_len``: on a CPU most
of a fixed-length batch would be padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE = -100  # the label transformers' losses skip


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int] | int | None  # token labels (causal LM), a class index (classifier), or None


def end_token(tokenizer: Any) -> int | None:
    """The id that ends a generation: EOS, or SEP for BERT-style vocabularies that have no EOS."""
    return tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id


def pad_token(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.sep_token_id):
        if candidate is not None:
            return candidate
    return 0


def encode_texts(tokenizer: Any, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """Token ids of each text, special tokens included, cut to ``max_len``."""
    if not texts:
        return []
    return tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]


def encode_classification(tokenizer: Any, texts: Sequence[str], targets: Sequence[int], max_len: int) -> list[Encoded]:
    return [Encoded(ids, target) for ids, target in zip(encode_texts(tokenizer, texts, max_len), targets)]


def encode_causal(tokenizer: Any, texts: Sequence[str], targets: Sequence[str | None], max_len: int) -> list[Encoded]:
    """Text + target + end token; labels mask the text when there is a target."""
    end = end_token(tokenizer)
    tail = [end] if end is not None else []
    prompts = tokenizer(list(texts), add_special_tokens=True)["input_ids"] if texts else []
    present = [t for t in targets if t is not None]
    target_ids = iter(tokenizer(present, add_special_tokens=False)["input_ids"] if present else [])
    encoded: list[Encoded] = []
    for prompt, target in zip(prompts, targets):
        if target is None:
            ids = (prompt + tail)[:max_len]
            encoded.append(Encoded(ids, list(ids)))
            continue
        answer = (next(target_ids) + tail)[:max_len]
        room = max_len - len(answer)
        context = prompt[len(prompt) - room:] if room > 0 else []
        encoded.append(Encoded(context + answer, [IGNORE] * len(context) + answer))
    return encoded


def collate(batch: Sequence[Encoded], pad_id: int, left: bool = False) -> dict[str, Any]:
    """Tensors for one batch, padded to its longest member (on the left for generation)."""
    import torch

    width = max(len(item.input_ids) for item in batch)
    ids, mask, labels = [], [], []
    for item in batch:
        gap = width - len(item.input_ids)
        pad, ones = [pad_id] * gap, [1] * len(item.input_ids)
        ids.append(pad + item.input_ids if left else item.input_ids + pad)
        mask.append([0] * gap + ones if left else ones + [0] * gap)
        if isinstance(item.labels, list):
            labels.append(item.labels + [IGNORE] * gap)
        elif item.labels is not None:
            labels.append(item.labels)
    tensors = {"input_ids": torch.tensor(ids, dtype=torch.long), "attention_mask": torch.tensor(mask, dtype=torch.long)}
    if labels:
        tensors["labels"] = torch.tensor(labels, dtype=torch.long)
    return tensors
