"""Where a step computes and in which precision: decided from what the task was given and what torch sees.

The request decides the device, not what happens to be visible: a task given no GPU computes on the
CPU even on a GPU machine (another task may hold that GPU), and a task given a GPU computes on it, or
fails saying why torch cannot (a CPU build of torch, no device visible). Precision is autocast over
fp32 weights: ``bf16`` and ``fp16`` run the forward pass in half precision where it is safe (torch's
autocast op lists), the optimizer keeps fp32 master weights, and the saved model is fp32, so
evaluation and serving read the same weights whatever the training precision. ``fp16`` has a narrow
range: its gradients go through a scaler (``torch.amp.GradScaler``), which skips a step whose
gradients overflowed and lowers the scale. bf16 has fp32's range and needs no scaler.

On a CPU both run (torch's CPU autocast and CPU GradScaler; bf16 uses the CPU's bf16 kernels where
it has them, and is slower than fp32 where it does not); fp16 on a CPU is for checking a GPU spec
on a laptop, not for speed. The CUDA branches are untested here (no GPU on the development machine):
bench/gpu_check.py exercises them on a GPU host.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from runners.step import NodeFailed

AUTOCAST_DTYPES = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class Accelerators:
    """What torch sees in this process (``seen()``); plain facts so the decision is a pure function."""

    torch_version: str
    cuda_build: bool          # torch was built with CUDA (torch.version.cuda is set)
    cuda_devices: int         # devices visible to this process (CUDA_VISIBLE_DEVICES applied)
    bf16_on_cuda: bool = False


@dataclass(frozen=True)
class Placement:
    device: str               # "cpu" | "cuda"
    precision: str            # fp32 | bf16 | fp16
    autocast_dtype: str | None  # the torch dtype name autocast computes in; None: plain fp32
    grad_scaler: bool         # fp16: scale the loss, unscale before clipping, skip overflowing steps

    def autocast(self) -> AbstractContextManager[Any]:
        """The forward pass's context: autocast on this device, or nothing for fp32."""
        if self.autocast_dtype is None:
            return nullcontext()
        import torch

        return torch.autocast(device_type=self.device, dtype=getattr(torch, self.autocast_dtype))

    def scaler(self) -> Any:
        """A gradient scaler for fp16 (on this device), else None."""
        if not self.grad_scaler:
            return None
        import torch

        return torch.amp.GradScaler(self.device)


def placement(num_gpus: float, precision: str, seen: Accelerators, node: str = "this node",
              quantize: str | None = None) -> Placement:
    """Pure: the device and precision settings of a task given ``num_gpus`` GPUs; NodeFailed when it cannot have them.

    ``quantize``: the model's post step (int8 dynamic quantization runs on the CPU only), for evaluation and serving."""
    if quantize is not None and num_gpus > 0:
        raise NodeFailed(f"{node} was given {num_gpus:g} GPU but the model is quantized to {quantize}, which runs on the CPU only",
                         "give it num_gpus: 0 (int8 is for CPU serving), or remove the quantize post step", retryable=False)
    if precision not in AUTOCAST_DTYPES:
        raise NodeFailed(f"{node}: unknown precision {precision!r}", "use fp32, bf16 or fp16", retryable=False)
    device = "cpu"
    if num_gpus > 0:
        if not seen.cuda_build:
            raise NodeFailed(f"{node} was given {num_gpus:g} GPU but torch {seen.torch_version} is a CPU-only build",
                             "install a CUDA build of torch on the GPU workers, or set resources.num_gpus: 0",
                             retryable=False)
        if seen.cuda_devices == 0:
            raise NodeFailed(f"{node} was given {num_gpus:g} GPU but torch sees no CUDA device",
                             "check the node's driver (nvidia-smi) and that Ray started with its GPUs "
                             "(ray start --num-gpus); or set resources.num_gpus: 0", retryable=False)
        device = "cuda"
        if precision == "bf16" and not seen.bf16_on_cuda:
            raise NodeFailed(f"{node}: this GPU does not compute in bf16",
                             "use training.precision: fp16 (with its gradient scaler) or fp32", retryable=False)
    return Placement(device, precision, AUTOCAST_DTYPES[precision], precision == "fp16")


def seen() -> Accelerators:
    """What torch sees here (imports torch; asks CUDA only in a CUDA build)."""
    import torch

    build = torch.version.cuda is not None
    count = torch.cuda.device_count() if build and torch.cuda.is_available() else 0
    bf16 = bool(count and torch.cuda.is_bf16_supported())
    return Accelerators(torch.__version__, build, count, bf16)


def task_placement(ctx: Any, precision: str = "fp32", quantize: str | None = None) -> Placement:
    """The placement of the step in ``ctx``: the GPUs the driver gave its task (``extra["num_gpus"]``)."""
    return placement(float(ctx.extra.get("num_gpus", 0) or 0), precision, seen(), ctx.node, quantize)


def torch_device(where: Placement) -> Any:
    """The torch device of a placement: the current CUDA device (Ray sets CUDA_VISIBLE_DEVICES per task), or the CPU."""
    import torch

    return torch.device("cuda", torch.cuda.current_device()) if where.device == "cuda" else torch.device("cpu")
