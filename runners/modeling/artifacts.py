"""The model artifact: ``model/`` (weights + tokenizer), ``base/`` when needed, and ``llmops_model.json``.

``llmops_model.json`` is what every reader starts from (the evaluate step, the Serve
replica, a Model that continues from this one): the task and labels, how the input text
is built, which weights ``model/`` holds and where the rest comes from, and the post steps
to apply at load time. int8 quantization is one of those: the stored weights stay float,
so a later fine-tune starts from full precision and the artifact is portable across CPUs.

``weights`` is ``full`` when ``model/`` holds every weight (an import, a full fine-tune, a
merged LoRA), or ``adapter`` when it holds a LoRA adapter over ``base_weights``: a package
or a pinned hub id (loaded again by name), or ``{"folder": "base"}``, the base weights
saved beside the adapter (for a config, a repository path or another Model as base).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runners.modeling.loading import (hub_source, model_from_folder, package_model_folder, ready_for_batches,
                                      tokenizer_from_folder)
from runners.step import NodeFailed

MANIFEST = "llmops_model.json"
FORMAT = 1


@dataclass(frozen=True)
class ModelManifest:
    task: str
    labels: list[str] | None
    base: dict[str, Any]                    # where the weights started, as the spec said (resolved)
    weights: str                            # full | adapter
    base_weights: dict[str, Any] | None     # for an adapter: {"folder": "base"} | {"package", "version"} | {"hub", "revision"}
    method: str | None                      # lora | full | None for an import
    post: list[Any]                         # the post steps as written: ["merge_adapter", {"quantize": "int8"}]
    quantize: str | None                    # int8: dynamic quantization of the Linear layers when loaded
    text_column: str | None
    label_column: str | None
    prompt: dict[str, Any] | None           # the training Prompt's spec: how inputs were built
    max_seq_len: int
    max_new_tokens: int                     # generation budget for a causal LM
    seed: int
    train_rows: int = 0
    steps: int = 0
    final_loss: float | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def write_manifest(folder: Path, manifest: ModelManifest) -> None:
    body = {"format": FORMAT, **asdict(manifest)}
    (folder / MANIFEST).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def artifact_folder(path: Path) -> Path:
    """The folder holding llmops_model.json: ``path`` itself or, given its ``model/``, the parent."""
    for candidate in (path, path.parent):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise NodeFailed(f"{path} holds no {MANIFEST}",
                     "point at the output folder of a Model's import or finetune step", retryable=False)


def read_manifest(folder: Path) -> ModelManifest:
    path = artifact_folder(folder) / MANIFEST
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NodeFailed(f"cannot read {path}: {exc}", "re-run the Model's step to write it again", retryable=False) from None
    if body.pop("format", None) != FORMAT:
        raise NodeFailed(f"{path} is in another format than this llmops writes ({FORMAT})",
                         "re-run the Model's step with this version of llmops", retryable=False)
    known = ModelManifest.__dataclass_fields__
    return ModelManifest(**{k: v for k, v in body.items() if k in known})


def load_trained(folder: Path, manifest: ModelManifest | None = None) -> tuple[Any, Any, ModelManifest]:
    """(model, tokenizer, manifest) of an artifact, in float, in eval mode, post-load steps not applied."""
    from runners.modeling.runtime import quiet_libraries, seed_everything

    quiet_libraries()
    folder = artifact_folder(folder)
    manifest = manifest or read_manifest(folder)
    # Weights a checkpoint lacks are initialized at load; seeding makes them the ones training saw.
    seed_everything(manifest.seed)
    what = f"the model at {folder}"
    if manifest.weights == "full":
        model = model_from_folder(folder / "model", manifest.task, manifest.labels, what)
    else:
        from peft import PeftModel

        base = load_base_weights(folder, manifest)
        model = PeftModel.from_pretrained(base, folder / "model")
    tokenizer = tokenizer_from_folder(folder / "model", what)
    ready_for_batches(model, tokenizer)
    model.eval()
    return model, tokenizer, manifest


def load_base_weights(folder: Path, manifest: ModelManifest) -> Any:
    """The base model an adapter artifact was trained on."""
    where = manifest.base_weights or {}
    if "folder" in where:
        return model_from_folder(folder / where["folder"], manifest.task, manifest.labels, f"the base weights in {folder}")
    if "package" in where:
        source, _ = package_model_folder(where["package"])
        return model_from_folder(source, manifest.task, manifest.labels, f"package {where['package']}")
    if "hub" in where:
        source, options = hub_source(where["hub"], where.get("revision"))
        return model_from_folder(source, manifest.task, manifest.labels, f"hub model {where['hub']}", **options)
    raise NodeFailed(f"{folder / MANIFEST} names no base weights for its adapter",
                     "re-run the Model's step to write the artifact again", retryable=False)


def library_versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
