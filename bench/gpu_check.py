"""GPU check: llmops' training loop against a hand-written peft loop, bf16 on CUDA, tokens per second.

Not run by the tests (the development machine has no GPU). On a CUDA host:

    python bench/gpu_check.py                  # bf16 on cuda, a GPT-2-shaped model of ~30M parameters
    python bench/gpu_check.py --device cpu --steps 5 --layers 2 --width 128   # smoke run anywhere

Both loops train the same LoRA-wrapped model from the same seed on the same batches: llmops'
``train()`` (runners/modeling/training.py, with the placement runners/modeling/device.py decides)
and the loop a user would write from peft's docs (autocast, AdamW, clip, step). It prints
tokens/s of each and their ratio (llmops / hand-written; 1.0 means no overhead), the final loss
of each (they should agree closely), and the peak CUDA memory. It also fails loudly if the
model did not end up on the GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(args: argparse.Namespace):
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=args.layers, n_embd=args.width, n_head=max(1, args.width // 64), vocab_size=args.vocab,
                        n_positions=args.seq_len, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=16, lora_alpha=32, lora_dropout=0.0, fan_in_fan_out=True,
                      target_modules=["c_attn", "c_proj"])
    return get_peft_model(GPT2LMHeadModel(config), lora)


def examples(args: argparse.Namespace):
    import torch

    from runners.modeling.encoding import Encoded

    generator = torch.Generator().manual_seed(1)
    rows = torch.randint(1, args.vocab, (args.rows, args.seq_len), generator=generator).tolist()
    return [Encoded(ids, list(ids)) for ids in rows]


def training(args: argparse.Namespace, precision: str) -> SimpleNamespace:
    return SimpleNamespace(epochs=1, learning_rate=1e-3, batch_size=args.batch, gradient_accumulation_steps=1,
                           max_seq_len=args.seq_len, max_steps=args.steps, warmup_ratio=0.0, weight_decay=0.0, seed=3,
                           precision=precision)


def llmops_loop(args: argparse.Namespace, data) -> tuple[float, float]:
    from runners.modeling.device import placement, seen, torch_device
    from runners.modeling.training import train

    spec = training(args, args.precision)
    where = placement(1 if args.device == "cuda" else 0, args.precision, seen(), "gpu_check")
    model = build(args).to(torch_device(where))
    _check_device(model, args.device)
    _sync(args.device)
    curve = train(model, data, 0, spec, where)
    _sync(args.device)
    return curve.seconds, curve.loss[-1]


def hand_loop(args: argparse.Namespace, data) -> tuple[float, float]:
    """What a peft user writes: the same batches in the same order, autocast, AdamW, clip, step."""
    import torch

    from runners.modeling.encoding import collate

    device = torch.device(args.device)
    model = build(args).to(device)
    _check_device(model, args.device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    order = torch.Generator().manual_seed(3)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(args.device) if args.precision == "fp16" else None
    model.train()
    _sync(args.device)
    started = time.perf_counter()
    step, loss = 0, None
    while step < args.steps:
        permutation = torch.randperm(len(data), generator=order).tolist()
        for start in range(0, len(data), args.batch):
            batch = {k: v.to(device) for k, v in collate([data[i] for i in permutation[start:start + args.batch]], 0).items()}
            with torch.autocast(args.device, dtype=dtype, enabled=dtype is not None):
                loss = model(**batch).loss
            (scaler.scale(loss) if scaler else loss).backward()
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            (scaler.step(optimizer), scaler.update()) if scaler else optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step >= args.steps:
                break
    last = loss.item()
    _sync(args.device)
    return time.perf_counter() - started, last


def _check_device(model, device: str) -> None:
    placed = {p.device.type for p in model.parameters()}
    if placed != {device}:
        raise SystemExit(f"the model is on {placed}, not {device}")


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=8192)
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"no CUDA device (torch {torch.__version__}); run with --device cpu for a smoke run")
    data = examples(args)
    tokens = args.steps * args.batch * args.seq_len
    hand_loop(args, data[: args.batch * 2]) if args.device == "cuda" else None  # warm up kernels and the allocator
    ours_s, ours_loss = llmops_loop(args, data)
    hand_s, hand_loss = hand_loop(args, data)
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}), {args.precision}, "
          f"{args.steps} steps x {args.batch} x {args.seq_len} tokens")
    print(f"llmops loop:       {tokens / ours_s:12.0f} tokens/s   final loss {ours_loss:.4f}")
    print(f"hand-written peft: {tokens / hand_s:12.0f} tokens/s   final loss {hand_loss:.4f}")
    print(f"ratio llmops / hand-written: {hand_s / ours_s:.3f}")
    if args.device == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
