"""Post steps: folding a LoRA adapter into its base, and int8 dynamic quantization for CPU serving.

Quantization happens when a model is loaded, never on disk: the stored weights stay float,
so a Model that continues from this one trains in full precision, and the quantized
kernels are chosen for the CPU that serves, not the one that trained.
"""

from __future__ import annotations

from typing import Any

QUANTIZATIONS = ("int8",)


def merge_adapter(model: Any) -> Any:
    """The base model with the LoRA weights added in (W + BA * alpha/r); no adapter layers left."""
    return model.merge_and_unload()


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantization of every Linear layer (weights int8, activations quantized per batch).

    torch 2.13 still provides this as ``torch.ao.quantization.quantize_dynamic``, deprecated in
    favour of torchao's ``quantize_``; torchao is not a dependency here, so the torch one is used.
    """
    import torch

    from runners.modeling.runtime import torch_ao_deprecations_silenced

    with torch_ao_deprecations_silenced():
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def post_steps_as_written(post: list[Any]) -> list[Any]:
    """The spec's post list in its YAML spelling, for the manifest."""
    return ["merge_adapter" if step.merge_adapter else {"quantize": step.quantize} for step in post]


def wants_merge(post: list[Any]) -> bool:
    return any(step.merge_adapter for step in post)


def quantization(post: list[Any]) -> str | None:
    return next((step.quantize for step in post if step.quantize), None)
