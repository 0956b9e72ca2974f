"""The training loop: a plain torch loop, because on a 2-core CPU it is faster than transformers' Trainer.

Trainer brings a data loader with workers, callbacks, logging and state saving; none of it
pays on a CPU where one MiniLM step takes tens of milliseconds. The loop below does what
Trainer does by default that changes the result: AdamW without decay on biases and norms,
a linear schedule with warmup, gradient clipping at norm 1.0, gradient accumulation, and a
fresh seeded shuffle each epoch. Batches are padded to their own longest row.

The same loop runs on a GPU and in bf16 / fp16 autocast (with fp16's gradient scaler): the
Placement from runners/modeling/device.py says where. It also runs as one of several Ray
Train workers (runners/modeling/distributed.py): a Shard says which slice of each global
batch is this worker's and how to weight it, so the workers together take the steps one
worker would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runners.modeling.encoding import IGNORE, Encoded, collate

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
    skipped_steps: int | None = None  # fp16: steps the gradient scaler skipped (an overflow); None without a scaler

    def as_json(self) -> dict[str, Any]:
        body = {"step": self.step, "epoch": self.epoch, "loss": self.loss, "learning_rate": self.learning_rate,
                "seconds": round(self.seconds, 3), "examples": self.examples}
        return body if self.skipped_steps is None else {**body, "skipped_steps": self.skipped_steps}


def optimizer_for(model: Any, training: Any) -> Any:
    """AdamW over the trainable parameters; no weight decay on biases and normalization weights."""
    import torch

    decay, no_decay = [], []
    for _, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": training.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=training.learning_rate)


@dataclass(frozen=True)
class Shard:
    """This worker's part of data-parallel training: ``rank`` of ``world`` workers, and how to sum across them.

    Every worker draws the same global batches (the same seeded order); each computes its
    slice of each one, weighted so that DDP's mean of the workers' gradients is the gradient
    of the global batch's mean loss (rows for a classifier, target tokens for a causal LM).
    One worker: the slice is the batch and the weight is 1, the loop as it always was.
    """

    rank: int = 0
    world: int = 1
    total: Callable[[float], float] | None = None  # sum of a number over the workers (an all-reduce)

    def part(self, batch: Sequence[Encoded]) -> Sequence[Encoded]:
        """Rows ``[rank * n / world, (rank + 1) * n / world)`` of the batch: contiguous, sizes differing by at most one."""
        n = len(batch)
        return batch[self.rank * n // self.world:(self.rank + 1) * n // self.world]


def scored(item: Encoded) -> int:
    """What the loss averages over in one example: one row of a classifier; the target tokens of a causal LM
    (labels shifted by one, as transformers' causal-LM loss reads them)."""
    if isinstance(item.labels, list):
        return sum(1 for label in item.labels[1:] if label != IGNORE)
    return 1


def _micro_loss(model: Any, batch: Sequence[Encoded], pad_id: int, shard: Shard, where: Any) -> Any:
    """The loss this worker back-propagates for one global micro batch (see Shard)."""
    if shard.world == 1:
        with where.autocast():
            return model(**_on(collate(batch, pad_id), where)).loss
    part = shard.part(batch)
    count, whole = sum(scored(item) for item in part), sum(scored(item) for item in batch)
    if not count:  # nothing of this batch to score here: a zero loss through the whole model keeps DDP's
        with where.autocast():  # all-reduce in step with the other workers (each must run backward)
            return model(**_on(collate(part or batch[:1], pad_id), where)).logits.float().sum() * 0.0
    with where.autocast():
        loss = model(**_on(collate(part, pad_id), where)).loss
    return loss * (count * shard.world / whole)


def _on(tensors: dict[str, Any], where: Any) -> dict[str, Any]:
    return tensors if where.device == "cpu" else {k: v.to(where.device, non_blocking=True) for k, v in tensors.items()}


def train(model: Any, examples: Sequence[Encoded], pad_id: int, training: Any, where: Any = None,
          shard: Shard = Shard()) -> LossCurve:
    """Train ``model`` (already on ``where``'s device) in place; returns the loss of every optimizer step.

    ``where`` (runners/modeling/device.py) sets autocast and the fp16 gradient scaler; default fp32 on the CPU.
    ``shard``: this worker's part when several train one model (runners/modeling/distributed.py).
    """
    import torch

    from runners.modeling.device import Placement
    from runners.modeling.runtime import seed_everything

    where = where or Placement("cpu", "fp32", None, False)
    schedule = schedule_for(len(examples), training)
    seed_everything(training.seed + shard.rank)  # dropout differs between workers; the order below does not
    order = torch.Generator().manual_seed(training.seed)
    optimizer = optimizer_for(model, training)
    scaler = where.scaler()
    base_rates = [group["lr"] for group in optimizer.param_groups]
    accumulate = training.gradient_accumulation_steps
    curve = LossCurve(skipped_steps=0 if scaler else None)
    model.train()
    started = time.perf_counter()
    step, running, micro_in_step = 0, 0.0, 0
    while step < schedule.total_steps:
        permutation = torch.randperm(len(examples), generator=order).tolist()
        starts = range(0, len(examples), training.batch_size)
        for index, start in enumerate(starts):
            batch = [examples[i] for i in permutation[start:start + training.batch_size]]
            last_micro = micro_in_step + 1 >= accumulate or index == len(starts) - 1
            with _no_sync(model, shard, last_micro):
                loss = _micro_loss(model, batch, pad_id, shard, where) / accumulate
                (scaler.scale(loss) if scaler else loss).backward()
            running += loss.item()
            micro_in_step += 1
            curve.examples += len(batch)
            if not last_micro:
                continue
            rate = linear_rate(step, schedule)
            for group, base_rate in zip(optimizer.param_groups, base_rates):
                group["lr"] = base_rate * rate
            if scaler:
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], MAX_GRAD_NORM)
            if scaler:
                scale = scaler.get_scale()
                scaler.step(optimizer)  # skipped when a gradient overflowed; update() then lowers the scale
                scaler.update()
                curve.skipped_steps += int(scaler.get_scale() < scale)
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if shard.world > 1 and shard.total is not None:
                running = shard.total(running) / shard.world  # each worker's share of the global mean, summed
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


def _no_sync(model: Any, shard: Shard, last_micro: bool) -> Any:
    """DDP's ``no_sync`` for micro batches before the last of a step: gradients sum locally, one all-reduce per step."""
    from contextlib import nullcontext

    if shard.world > 1 and not last_micro and hasattr(model, "no_sync"):
        return model.no_sync()
    return nullcontext()


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute activations in backward (non-reentrant: LoRA's frozen inputs need no ``requires_grad``,
    and the saved RNG state replays dropout exactly, so the loss is the same)."""
    from runners.step import NodeFailed

    if not getattr(model, "supports_gradient_checkpointing", False):
        raise NodeFailed(f"gradient_checkpointing: this {model.config.model_type} model does not support it",
                         "remove training.gradient_checkpointing", retryable=False)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False


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
