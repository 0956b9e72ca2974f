"""Data-parallel fine-tuning with Ray Train: ``resources.workers`` copies of the model, one global batch.

The finetune step (a coordinator task that asks for no resources) loads the base, wraps it in
LoRA and encodes the rows as for one worker, then hands the model and the rows to a
``TorchTrainer`` of ``workers`` workers, each with the Model's ``resources``. Everything travels
through Ray's object store, never a shared disk. Each worker places the model on its device
(runners/modeling/device.py), wraps it in DDP (gloo on CPUs, nccl on GPUs) and runs the same loop
as one worker (runners/modeling/training.py) on its slice of every global batch, weighted so the
averaged gradient is the global batch's: with the same ``batch_size`` the loss curve matches one
worker's up to float summation order. Rank 0 returns the trained parameters and the curve; the
coordinator loads them into its model and saves the artifact exactly as the one-worker path does.

Like one worker, a run is not checkpointed part-way: a failed fine-tune is retried from the start
(``finetune.max_retries``), so Ray Train's own retries are off. The nccl and CUDA branches are
untested here (no GPU on the development machine); bench/gpu_check.py covers a GPU host.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from runners.step import NodeFailed


def train_distributed(node: str, model: Any, examples: list[Any], pad_id: int, training: Any, resources: Any) -> Any:
    """Train ``model`` in place on ``resources.workers`` Ray Train workers; returns rank 0's LossCurve."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    gpus = resources.num_gpus
    per_worker: dict[str, float] = {"CPU": resources.num_cpus, **dict(resources.custom)}
    if gpus:
        per_worker["GPU"] = gpus
    if resources.memory_gb:
        per_worker["memory"] = resources.memory_gb * 1024**3
    scratch = Path(tempfile.mkdtemp(prefix="llmops-train-"))  # Ray Train's run folder: nothing is checkpointed in it
    config = {"model": ray.put(model), "examples": ray.put(examples), "pad_id": pad_id, "training": training,
              "num_gpus": gpus, "num_cpus": resources.num_cpus, "node": node}
    trainer = TorchTrainer(
        _worker_loop, train_loop_config=config,
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        scaling_config=ScalingConfig(num_workers=resources.workers, use_gpu=bool(gpus), resources_per_worker=per_worker,
                                     accelerator_type=resources.accelerator_type),
        run_config=RunConfig(name=f"llmops-{uuid.uuid4().hex[:12]}", storage_path=str(scratch),
                             failure_config=FailureConfig(max_failures=0)))
    try:
        result = trainer.fit()
    except Exception as exc:  # ray.train.TrainingFailedError: a worker failed, or the group could not start
        raise _as_node_failure(node, exc) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    from safetensors.torch import load

    state, curve = result.return_value
    _load_trained(model, load(state))
    return curve


def _worker_loop(config: dict[str, Any]) -> tuple[bytes, Any] | None:
    """One Ray Train worker: its device, DDP, the shared loop on its slice; rank 0 returns what was learned."""
    import ray
    import ray.train
    import ray.train.torch
    import torch
    import torch.distributed as dist

    from runners.modeling.device import placement, seen
    from runners.modeling.runtime import quiet_libraries, use_threads
    from runners.modeling.training import Shard, train

    quiet_libraries()
    use_threads(config["num_cpus"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    training = config["training"]
    where = placement(config["num_gpus"], training.precision, seen(), f"{config['node']} (worker {rank})")
    device = ray.train.torch.get_device() if where.device == "cuda" else torch.device("cpu")
    if where.device == "cuda":
        torch.cuda.set_device(device)  # Ray Train shows a node's workers all its GPUs: each takes its own
    model = ray.get(config["model"])
    examples = ray.get(config["examples"])
    wrapped = ray.train.torch.prepare_model(model, move_to_device=device, parallel_strategy="ddp")

    def total(value: float) -> float:
        tensor = torch.tensor([value], dtype=torch.float64 if where.device == "cpu" else torch.float32, device=device)
        dist.all_reduce(tensor)
        return float(tensor.item())

    curve = train(wrapped, examples, config["pad_id"], training, where, Shard(rank, world, total))
    if rank != 0:
        return None
    inner = getattr(wrapped, "module", wrapped)
    from safetensors.torch import save

    state = {name: p.detach().to("cpu").contiguous() for name, p in inner.named_parameters() if p.requires_grad}
    return save(state), curve  # bytes: Ray Train refuses to return tensors


def _load_trained(model: Any, state: dict[str, Any]) -> None:
    """Copy rank 0's trained parameters into the coordinator's model (the same architecture, by name)."""
    import torch

    parameters = dict(model.named_parameters())
    missing = sorted(name for name, p in parameters.items() if p.requires_grad and name not in state)
    unknown = sorted(set(state) - set(parameters))
    if missing or unknown:
        raise NodeFailed(f"the workers returned other parameters than the model has ({(missing + unknown)[0]})",
                         "this is a bug in llmops: report it", retryable=False)
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


def _as_node_failure(node: str, exc: BaseException) -> NodeFailed:
    """The first worker's own error (a NodeFailed as it was raised), else Ray Train's, in one line."""
    failures = getattr(exc, "worker_failures", None) or {}
    cause = next(iter(failures.values()), None) if isinstance(failures, dict) else None
    cause = cause or getattr(exc, "controller_failure", None) or exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NodeFailed):
            return NodeFailed(cause.message, cause.hint, cause.retryable)
        cause = getattr(cause, "cause", None) or cause.__cause__
    first = next(iter(failures.values()), None) if isinstance(failures, dict) else None
    lines = [line for line in str(first or exc).strip().splitlines() if line.strip()]
    return NodeFailed(f"{node}: data-parallel training failed: {lines[-1].strip()[:300] if lines else type(exc).__name__}",
                      "see the Ray Train logs of the run (ray logs); rerun apply to retry")
