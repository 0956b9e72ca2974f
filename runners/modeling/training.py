"""The training loop: a plain torch loop, because on a 2-core CPU it is faster than transformers' Trainer.

Trainer brings a data loader with workers, callbacks, logging and state saving; none of it
pays on a CPU where one MiniLM step takes tens of milliseconds. The loop below does what
Trainer does by default that changes the result: AdamW without decay on biases and norms,
a linear schedule with warmup, gradient clipping at norm 1.0, gradient accumulation, and a
fresh seeded shuffle each epoch. Batches are padded to their own longest row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runners.modeling.encoding import Encoded, collate

MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class Schedule:
    micro_batches_per_epoch: int
    steps_per_epoch: int   # optimizer steps
    total_steps: int
    warmup_steps: int


def schedule_for(rows: int, training: Any) -> Schedule:
    """Pure: optimizer steps for ``rows`` examples under the spec's ``training`` block.

    ``max_steps`` wins over ``epochs``; a fractional epoch count stops part-way through an epoch.
    """
    micro = math.ceil(rows / training.batch_size) if rows else 0
    per_epoch = math.ceil(micro / training.gradient_accumulation_steps) if micro else 0
    total = training.max_steps if training.max_steps else math.ceil(training.epochs * per_epoch)
    return Schedule(micro, per_epoch, total, math.ceil(training.warmup_ratio * total))


def linear_rate(step: int, schedule: Schedule) -> float:
    """Pure: the learning-rate multiplier at optimizer step ``step`` (warm up, then decay to 0)."""
    if step < schedule.warmup_steps:
        return (step + 1) / (schedule.warmup_steps + 1)
    remaining = schedule.total_steps - step
    return max(0.0, remaining / max(1, schedule.total_steps - schedule.warmup_steps))


@dataclass
class LossCurve:
    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    seconds: float = 0.0
    examples: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "loss": self.loss, "learning_rate": self.learning_rate,
                "seconds": round(self.seconds, 3), "examples": self.examples}


def optimizer_for(model: Any, training: Any) -> Any:
    """AdamW over the trainable parameters; no weight decay on biases and normalization weights."""
    import torch

    decay, no_decay = [], []
    for _, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": training.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=training.learning_rate)


def train(model: Any, examples: Sequence[Encoded], pad_id: int, training: Any) -> LossCurve:
    """Train ``model`` in place; returns the loss of every optimizer step."""
    import torch

    from runners.modeling.runtime import seed_everything

    schedule = schedule_for(len(examples), training)
    seed_everything(training.seed)
    order = torch.Generator().manual_seed(training.seed)
    optimizer = optimizer_for(model, training)
    base_rates = [group["lr"] for group in optimizer.param_groups]
    accumulate = training.gradient_accumulation_steps
    curve = LossCurve()
    model.train()
    started = time.perf_counter()
    step, running, micro_in_step = 0, 0.0, 0
    while step < schedule.total_steps:
        permutation = torch.randperm(len(examples), generator=order).tolist()
        starts = range(0, len(examples), training.batch_size)
        for index, start in enumerate(starts):
            batch = [examples[i] for i in permutation[start:start + training.batch_size]]
            loss = model(**collate(batch, pad_id)).loss / accumulate
            loss.backward()
            running += loss.item()
            micro_in_step += 1
            curve.examples += len(batch)
            if micro_in_step < accumulate and index < len(starts) - 1:
                continue
            rate = linear_rate(step, schedule)
            for group, base_rate in zip(optimizer.param_groups, base_rates):
                group["lr"] = base_rate * rate
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], MAX_GRAD_NORM)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            curve.step.append(step)
            curve.epoch.append(round(step / max(1, schedule.steps_per_epoch), 4))
            curve.loss.append(running * accumulate / micro_in_step)
            curve.learning_rate.append(base_rates[0] * rate)
            running, micro_in_step = 0.0, 0
            if step >= schedule.total_steps:
                break
    curve.seconds = time.perf_counter() - started
    model.eval()
    return curve


def lora_wrap(model: Any, lora: Any, task: str) -> Any:
    """The model with LoRA adapters from the spec's ``lora`` block; only they (and a classifier head) train."""
    from peft import LoraConfig, TaskType, get_peft_model

    from runners.modeling.loading import CAUSAL_LM
    from runners.step import NodeFailed

    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM if task == CAUSAL_LM else TaskType.SEQ_CLS,
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, bias=lora.bias,
        target_modules=list(lora.target_modules) if lora.target_modules else None,
        fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2 stores its projections transposed (Conv1D)
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                         if type(module).__name__ in ("Linear", "Conv1D")})
        raise NodeFailed(f"LoRA cannot adapt this {model.config.model_type} model: {str(exc).splitlines()[0]}",
                         f"set finetune.lora.target_modules to some of: {', '.join(linear)}", retryable=False) from None


def trainable_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
