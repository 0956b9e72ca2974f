"""The starting weights of a Model: a package, a repository folder, a pinned hub id, a config, or another Model."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.modeling.loading import (CLASSIFICATION, hub_offline, hub_source, model_from_folder, package_model_folder,
                                      ready_for_batches, repository_model_folder, tokenizer_from_folder)
from runners.step import NodeFailed, StepContext


@dataclass(frozen=True)
class LoadedBase:
    model: Any
    tokenizer: Any
    source: dict[str, Any]            # for the manifest: where the weights came from
    by_name: dict[str, Any] | None    # how to load it again without a copy (package, hub); None: save a copy


def load_base(ctx: StepContext, texts: Sequence[str]) -> LoadedBase:
    """The base of ``ctx.spec`` for its task and labels; ``texts`` train a config base's tokenizer."""
    from runners.modeling.runtime import quiet_libraries, seed_everything

    quiet_libraries()
    spec = ctx.spec
    base, task, labels = spec.base, spec.task, spec.labels
    seed_everything(spec.finetune.training.seed if spec.finetune else 0)  # fresh heads and config models start here
    if base.package:
        folder, version = package_model_folder(base.package, ctx.root)
        model, tokenizer = _from_folder(folder, task, labels, f"package {base.package}")
        ref = {"package": base.package, "version": version}
        return LoadedBase(model, tokenizer, ref, ref)
    if base.path:
        return _from_repository_path(ctx, base.path, task, labels)
    if base.hub:
        return _from_hub(base.hub, base.revision, task, labels)
    if base.config:
        from runners.modeling.tiny import tiny_model

        extra = dict(base.config.model_extra or {})
        model, tokenizer = tiny_model(base.config.architecture, base.config.vocab_size, extra, texts, task, labels)
        ready_for_batches(model, tokenizer)
        return LoadedBase(model, tokenizer, {"config": base.config.model_dump(mode="json")}, None)
    return _from_model(ctx, task, labels)


def _from_folder(folder: Path | str, task: str, labels: Sequence[str] | None, what: str, **hub: Any) -> tuple[Any, Any]:
    model = model_from_folder(folder, task, labels, what, **hub)
    tokenizer = tokenizer_from_folder(folder, what, **hub)
    ready_for_batches(model, tokenizer)
    return model, tokenizer


def _from_repository_path(ctx: StepContext, path: str, task: str, labels: Sequence[str] | None) -> LoadedBase:
    from runners.modeling.artifacts import MANIFEST

    folder = repository_model_folder(ctx.root, path)  # inside the repository, no code, no remote-code config
    if (folder / MANIFEST).is_file():  # an llmops model artifact committed to the repository
        model, tokenizer = _continue_from(ctx, folder, task, labels)
    else:
        model, tokenizer = _from_folder(folder, task, labels, f"path {path}")
    return LoadedBase(model, tokenizer, {"path": path}, None)


def _from_hub(hub: str, revision: str | None, task: str, labels: Sequence[str] | None) -> LoadedBase:
    offline = hub_offline()
    try:
        source, options = hub_source(hub, revision)
        model, tokenizer = _from_folder(source, task, labels, f"hub model {hub}@{revision}", **options)
    except NodeFailed as failed:
        raise NodeFailed(f"cannot fetch {hub}@{revision} from the Hugging Face Hub: {failed.message.split(': ', 1)[-1]}",
                         ("HF_HUB_OFFLINE is set: " if offline else "this machine may be offline or the id and revision wrong: ")
                         + "download it where the Hub is reachable and commit it (DVC) as base: {path: models/...}, "
                         "or fill the Hugging Face cache on the workers", retryable=not offline) from None
    ref = {"hub": hub, "revision": revision}
    return LoadedBase(model, tokenizer, ref, ref)


def _from_model(ctx: StepContext, task: str, labels: Sequence[str] | None) -> LoadedBase:
    from runners.modeling.artifacts import read_manifest

    folder = ctx.input(ctx.spec.base.model)
    model, tokenizer = _continue_from(ctx, folder, task, labels)
    return LoadedBase(model, tokenizer, {"model": str(ctx.spec.base.model), "base": read_manifest(folder).base}, None)


def _continue_from(ctx: StepContext, folder: Path, task: str, labels: Sequence[str] | None) -> tuple[Any, Any]:
    """Another artifact's weights, with any adapter folded in, loaded for this spec's task and labels.

    When the task or labels differ, the merged weights pass through a scratch folder beside
    ``ctx.out`` so transformers can rebuild the head; the scratch is removed afterwards.
    """
    from runners.modeling.artifacts import load_trained, read_manifest

    manifest = read_manifest(folder)
    model, tokenizer, _ = load_trained(folder, manifest)
    if manifest.weights == "adapter":
        model = model.merge_and_unload()
    same_head = manifest.task == task and (task != CLASSIFICATION or list(manifest.labels or []) == list(labels or []))
    if not same_head:
        # beside ctx.out, not in it: never part of the artifact, and under apply's git-ignored temp folder
        # (.llmops/tmp/), whose leftovers the next run clears
        scratch = ctx.out.with_name(ctx.out.name + ".scratch-base")
        try:
            model.save_pretrained(scratch)
            tokenizer.save_pretrained(scratch)
            model, tokenizer = _from_folder(scratch, task, labels, f"the model at {folder}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    model.train()
    return model, tokenizer
