"""Data-parallel fine-tuning with Ray Train on 2 CPU workers (gloo), against one worker at the same global batch.

One embedded Ray instance of 2 CPUs for the module (other tests share the machine). The fine-tune
runs as apply runs it: a coordinator task with the options runners/task_resources.py gives it,
starting a TorchTrainer of 2 workers with 1 CPU each. Stated tolerance: per-step loss within 1e-4
relative and trained weights within 1e-4 absolute of one worker's; what differs is float
summation order (the workers' halves summed by all-reduce instead of in one batch). Measured on
this machine: per-step loss delta <= 1e-6, weights delta ~1e-7.
"""

from __future__ import annotations

import json

import pytest

from llmops_spec.model import ModelSpec
from runners.task_resources import task_resources
from conftest import ray_token_auth
from test_finetune import causal_spec, fact_rows, run_model, write_rows

LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4


@pytest.fixture(scope="module")
def ray_two_cpus(ray_test_token):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    with ray_token_auth(ray_test_token):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        yield ray
        ray.shutdown()


def with_workers(spec: ModelSpec, workers: int) -> ModelSpec:
    body = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["resources"] = {"num_cpus": 1, "workers": workers}
    return ModelSpec.model_validate(body)


def run_as_apply_does(ray, tmp_path, spec: ModelSpec, rows, name: str):
    """The finetune node in its own Ray task, with the options and the context extras apply gives it."""
    from runners.step import StepContext
    from runners.worker import run_jobs
    from runners.objects import fetch
    from task_jobs import job_of

    out = tmp_path / name
    out.mkdir()
    task = task_resources(spec, "finetune")
    ctx = StepContext(root=tmp_path, node=f"Model/{name}:finetune", step="finetune", resource=f"Model/{name}", spec=spec,
                      out=out, inputs={"Dataset/d@train": write_rows(tmp_path / f"{name}.jsonl", rows)},
                      extra={"num_cpus": task.num_cpus, "num_gpus": task.num_gpus, "workers": task.workers})
    job = job_of("runners.steps.finetune", ctx, tmp_path / "remote")
    [outcome] = ray.get(ray.remote(run_jobs).options(**task.options).remote([job]), timeout=600)
    assert outcome.status == "applied", outcome
    fetched = tmp_path / f"{name}-artifact"
    fetch(job.remote, outcome.manifest.oid, fetched)  # what the task pushed, as apply lands it
    return fetched, outcome.result


def weights(folder) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model" / "adapter_model.safetensors"))


@pytest.mark.slow
def test_two_gloo_workers_match_one_at_the_same_global_batch(ray_two_cpus, tmp_path):
    """GPT-2 LoRA, no dropout (two workers draw other dropout masks than one: the same distribution, other
    samples), batch_size 5 over 21 rows: the halves are uneven (2 + 3), the last batch of each epoch has one
    row (one worker scores nothing), and gradient accumulation exercises DDP's no_sync."""
    spec = causal_spec("gpt2", method="lora", epochs=2, batch_size=5, gradient_accumulation_steps=2)
    body = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["base"]["config"].update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    body["finetune"]["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0}
    spec = ModelSpec.model_validate(body)
    rows = fact_rows()[:21]
    one, _ = run_model(tmp_path, spec, rows, name="one")
    two, result = run_as_apply_does(ray_two_cpus, tmp_path, with_workers(spec, 2), rows, "two")
    curve_one = json.loads((one / "loss.json").read_text())
    curve_two = json.loads((two / "loss.json").read_text())
    assert curve_two["step"] == curve_one["step"] == [1, 2, 3, 4, 5, 6]
    assert curve_two["examples"] == curve_one["examples"] == 42
    for a, b in zip(curve_one["loss"], curve_two["loss"], strict=True):
        assert b == pytest.approx(a, rel=LOSS_RTOL)
    assert curve_two["loss"][-1] < curve_two["loss"][0]
    first, second = weights(one), weights(two)
    assert sorted(first) == sorted(second)
    assert max(float((first[k] - second[k]).abs().max()) for k in first) < WEIGHT_ATOL
    assert result.metrics["workers"] == 2 and "2 workers" in result.summary
    manifest = json.loads((two / "llmops_model.json").read_text())
    assert manifest["weights"] == "adapter" and manifest["steps"] == 6


@pytest.mark.parametrize("rows, world", [(5, 2), (1, 2), (16, 4), (7, 3), (3, 1)])
def test_the_workers_slices_partition_every_batch(rows, world):
    from runners.modeling.encoding import Encoded
    from runners.modeling.training import Shard

    batch = [Encoded([i], i) for i in range(rows)]
    parts = [list(Shard(rank, world).part(batch)) for rank in range(world)]
    assert [item for part in parts for item in part] == batch                 # in order, each row once
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_the_loss_weights_count_what_the_loss_averages():
    from runners.modeling.encoding import IGNORE, Encoded
    from runners.modeling.training import scored

    assert scored(Encoded([5, 6, 7], 2)) == 1                                 # a classifier: one row
    assert scored(Encoded([5, 6, 7, 8], [IGNORE, IGNORE, 7, 8])) == 2          # a causal LM: its target tokens
    assert scored(Encoded([5, 6, 7], [5, 6, 7])) == 2                          # shifted: the first token predicts nothing


def test_a_worker_error_comes_back_as_the_nodes_own_failure():
    """Ray Train raises a WorkerGroupError holding each failed worker's exception: a NodeFailed raised in a
    worker (a GPU it cannot see) reaches the user as it was raised; anything else as its last line."""
    from ray.train import WorkerGroupError

    from runners.modeling.distributed import _as_node_failure
    from runners.step import NodeFailed

    raised = NodeFailed("Model/m:finetune (worker 1) was given 1 GPU but torch sees no CUDA device", "check", False)
    failure = _as_node_failure("Model/m:finetune", WorkerGroupError("Training failed", {1: raised}))
    assert (failure.message, failure.hint, failure.retryable) == (raised.message, "check", False)
    other = _as_node_failure("Model/m:finetune", WorkerGroupError("Training failed", {0: RuntimeError("boom\nlast line")}))
    assert other.message == "Model/m:finetune: data-parallel training failed: last line" and other.retryable
