"""Models built from a config (``base: {config: {...}}``), with a tokenizer trained here on the training texts.

For tests and smoke runs: nothing to download, seconds to train. The tokenizer is a
byte-level BPE (``tokenizers``), so any text encodes without unknown tokens and decodes
back exactly; its training is deterministic for the same texts in the same order, and the
weights come from the spec's seed, so a config model is as reproducible as a packaged one.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runners.step import NodeFailed


@dataclass(frozen=True)
class Architecture:
    config_class: str                 # the transformers config class
    defaults: dict[str, Any]          # small sizes, overridable from the spec
    specials: dict[str, str]          # role (bos, eos, unk, pad, cls, sep, mask) -> token
    positions_key: str                # the config key for the longest sequence


ARCHITECTURES: dict[str, Architecture] = {
    "gpt2": Architecture(
        "GPT2Config", {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_positions": 512},
        {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": "<|endoftext|>", "pad": "<|endoftext|>"},
        "n_positions"),
    "llama": Architecture(
        "LlamaConfig", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                        "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 512},
        {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "pad": "<pad>"},
        "max_position_embeddings"),
    "bert": Architecture(
        "BertConfig", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                       "num_attention_heads": 2, "max_position_embeddings": 512},
        {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
        "max_position_embeddings"),
}


def build_tokenizer(architecture: str, vocab_size: int, texts: Sequence[str]) -> Any:
    """A byte-level BPE tokenizer of ``vocab_size`` trained on ``texts``, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    arch = ARCHITECTURES[architecture]
    specials = list(dict.fromkeys(arch.specials.values()))
    floor = len(pre_tokenizers.ByteLevel.alphabet()) + len(specials)
    if vocab_size < floor:
        raise NodeFailed(f"vocab_size {vocab_size} is too small for a byte-level tokenizer",
                         f"use vocab_size >= {floor} (256 bytes + {len(specials)} special tokens)", retryable=False)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(list(texts), trainer)
    if architecture == "bert":
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    elif architecture == "llama":
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    roles = {f"{role}_token": token for role, token in arch.specials.items()}
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **roles)


def build_config(architecture: str, vocab_size: int, extra: dict[str, Any], tokenizer: Any, task: str,
                 labels: Sequence[str] | None) -> Any:
    """The transformers config for ``architecture``: small defaults, the spec's keys on top, checked."""
    import transformers

    arch = ARCHITECTURES[architecture]
    config_class = getattr(transformers, arch.config_class)
    known = set(config_class().to_dict())
    unknown = sorted(set(extra) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"did you mean {close[0]}?" if close else f"{arch.config_class} takes: {', '.join(sorted(known - {'_name_or_path', 'transformers_version'}))}"
        raise NodeFailed(f"base.config: {architecture} has no setting {unknown[0]!r}", hint, retryable=False)
    values: dict[str, Any] = {**arch.defaults, **extra, "vocab_size": vocab_size}
    for role in ("bos", "eos", "pad"):
        token = arch.specials.get(role)
        if token is not None:
            values[f"{role}_token_id"] = tokenizer.convert_tokens_to_ids(token)
    if architecture == "bert" and task == "causal-lm":
        values["is_decoder"] = True
    if labels:
        values.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={label: i for i, label in enumerate(labels)})
    return config_class(**values)


def build_model(config: Any, task: str) -> Any:
    """Weights freshly initialized from torch's current seed (set by the caller)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    return auto.from_config(config)


def _positions(architecture: str, extra: dict[str, Any]) -> int:
    arch = ARCHITECTURES[architecture]
    return int(extra.get(arch.positions_key, arch.defaults[arch.positions_key]))


def tiny_model(architecture: str, vocab_size: int, extra: dict[str, Any], texts: Sequence[str], task: str,
               labels: Sequence[str] | None) -> tuple[Any, Any]:
    """(model, tokenizer) built from a config spec; the caller seeds torch first."""
    tokenizer = build_tokenizer(architecture, vocab_size, texts)
    tokenizer.model_max_length = _positions(architecture, extra)
    config = build_config(architecture, vocab_size, extra, tokenizer, task, labels)
    return build_model(config, task), tokenizer
