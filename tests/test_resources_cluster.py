"""Nodes land where their spec asks, on a ray.cluster_utils.Cluster with custom resources and a GPU node.

One cluster for the module: a head (1 CPU), a node with the custom resource ``ssd``, and a node that
declares one GPU of type A100 (Ray takes the declaration; this machine has no GPU, so torch sees
none there: what a misconfigured GPU node looks like). Each check submits a task with the options
apply computes from a spec (runners/task_resources.py) and reads the node id inside the task.
"""

from __future__ import annotations

import time

import pytest

from conftest import ray_token_auth
from llmops_spec.dataset import DatasetSpec
from llmops_spec.evalgate import EvalGateSpec
from llmops_spec.model import ModelSpec
from runners.task_resources import cluster_nodes, task_resources, unschedulable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(ray_test_token):
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    with ray_token_auth(ray_test_token):
        built = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        ssd = built.add_node(num_cpus=1, resources={"ssd": 1})
        gpu = built.add_node(num_cpus=1, num_gpus=1, resources={"accelerator_type:A100": 1})
        built.wait_for_nodes()
        ray.init(address=built.address, log_to_driver=False, logging_level="ERROR")
        yield ray, {"head": built.head_node.node_id, "ssd": ssd.node_id, "gpu": gpu.node_id}
        ray.shutdown()
        built.shutdown()


def node_of(ray, options: dict) -> str:
    @ray.remote
    def where() -> str:
        import ray as inside

        return inside.get_runtime_context().get_node_id()

    return ray.get(where.options(**options).remote(), timeout=120)


def dataset(resources: dict) -> DatasetSpec:
    return DatasetSpec.model_validate({"source": {"path": "d.jsonl"}, "columns": {"text": "string"}, "resources": resources})


def gate(resources: dict) -> EvalGateSpec:
    return EvalGateSpec.model_validate({"model": "Model/m", "dataset": "Dataset/d", "resources": resources,
                                        "metrics": [{"metric": "accuracy", "min": 0.5}]})


def model(resources: dict) -> ModelSpec:
    return ModelSpec.model_validate({"base": {"config": {"architecture": "bert"}}, "task": "sequence-classification",
                                     "labels": ["a", "b"], "finetune": {"dataset": "Dataset/d@train"},
                                     "resources": resources})


def test_nodes_land_where_their_spec_asks(cluster):
    ray, ids = cluster
    assert node_of(ray, task_resources(dataset({"num_cpus": 1, "custom": {"ssd": 1}}), "prepare").options) == ids["ssd"]
    asks_a100 = gate({"num_cpus": 1, "num_gpus": 1, "accelerator_type": "A100"})
    assert node_of(ray, task_resources(asks_a100, "evaluate").options) == ids["gpu"]
    assert node_of(ray, task_resources(model({"num_cpus": 1, "num_gpus": 1}), "finetune").options) == ids["gpu"]


def test_what_the_cluster_lacks_is_named_before_anything_is_sent(cluster):
    ray, _ = cluster
    nodes = cluster_nodes(ray)
    assert len(nodes) == 3
    for spec, step in ((dataset({"custom": {"ssd": 1}}), "prepare"), (gate({"num_gpus": 1, "accelerator_type": "A100"}), "evaluate")):
        assert unschedulable(task_resources(spec, step).request, nodes) is None
    message, hint = unschedulable(task_resources(gate({"num_gpus": 1, "accelerator_type": "H100"}), "evaluate").request, nodes)
    assert message == "asks for an H100 accelerator (accelerator_type:H100); no node has any" and "accelerator" in hint
    message, _ = unschedulable(task_resources(dataset({"custom": {"ssd": 1}, "num_gpus": 1}), "prepare").request, nodes)
    assert message == "asks for 1 CPU, 1 GPU, 1 of custom resource ssd on one node; no node has them all"
    message, _ = unschedulable(task_resources(model({"num_cpus": 1, "num_gpus": 1, "workers": 2}), "finetune").request, nodes)
    assert message == "asks for 2 workers of 1 CPU, 1 GPU; the cluster holds 1 at once"


def test_a_finetune_on_a_gpu_node_whose_torch_sees_no_gpu_fails_clearly(cluster, tmp_path):
    """The Ray task is given the node's GPU (CUDA_VISIBLE_DEVICES is set), but this torch is a CPU build:
    the step says so at once instead of training on the CPU while holding the GPU."""
    from runners.step import StepContext
    from runners.worker import run_jobs
    from task_jobs import job_of

    ray, ids = cluster
    spec = model({"num_cpus": 1, "num_gpus": 1})
    task = task_resources(spec, "finetune")
    (tmp_path / "out").mkdir()
    ctx = StepContext(root=tmp_path, node="Model/m:finetune", step="finetune", resource="Model/m", spec=spec,
                      out=tmp_path / "out", inputs={"Dataset/d@train": tmp_path / "absent.jsonl"},
                      extra={"num_cpus": task.num_cpus, "num_gpus": task.num_gpus, "workers": task.workers})
    started = time.monotonic()
    job = job_of("runners.steps.finetune", ctx, tmp_path / "remote")
    [outcome] = ray.get(ray.remote(run_jobs).options(**task.options).remote([job]), timeout=120)
    assert outcome.status == "failed" and outcome.retryable is False
    assert "Model/m:finetune was given 1 GPU but torch" in outcome.message and "CPU-only build" in outcome.message
    assert "resources.num_gpus: 0" in outcome.hint and time.monotonic() - started < 60
