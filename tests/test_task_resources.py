"""What a node asks Ray for, and the pure decision that a cluster can never run it (runners/task_resources.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmops_spec.dataset import DatasetSpec
from llmops_spec.evalgate import EvalGateSpec
from llmops_spec.model import ModelSpec
from runners.task_resources import GIB, Request, request_of, task_resources, unschedulable

CPU_NODE = {"CPU": 2.0, "memory": 8 * GIB, "object_store_memory": 2 * GIB, "node:127.0.0.1": 1.0}
GPU_NODE = {"CPU": 8.0, "GPU": 2.0, "memory": 64 * GIB, "accelerator_type:A100": 1.0}


def model(resources: dict, finetune: bool = True) -> ModelSpec:
    spec = {"base": {"config": {}}, "task": "causal-lm", "resources": resources}
    if finetune:
        spec["finetune"] = {"dataset": "Dataset/d@train"}
    return ModelSpec.model_validate(spec)


def test_every_computing_step_kind_takes_resources():
    data = DatasetSpec.model_validate({"source": {"path": "d.jsonl"}, "columns": {"text": "string"},
                                       "resources": {"num_cpus": 2, "memory_gb": 1.5, "custom": {"ssd": 1}}})
    gate = EvalGateSpec.model_validate({"model": "Model/m", "dataset": "Dataset/d", "metrics": [{"metric": "accuracy", "min": 0.5}],
                                        "resources": {"num_gpus": 1, "accelerator_type": "L4"}})
    assert task_resources(data, "prepare").options == {"num_cpus": 2, "num_gpus": 0, "memory": int(1.5 * GIB),
                                                       "resources": {"ssd": 1.0}}
    assert task_resources(gate, "evaluate").options == {"num_cpus": 1, "num_gpus": 1, "accelerator_type": "L4"}
    assert task_resources(gate, "evaluate").request.each == {"CPU": 1.0, "GPU": 1.0, "accelerator_type:L4": 0.001}
    assert task_resources(gate, "gate").options == {"num_cpus": 0, "num_gpus": 0}  # bookkeeping: nothing
    assert task_resources(model({"num_cpus": 3}), "finetune").options == {"num_cpus": 3, "num_gpus": 0}


def test_a_data_parallel_finetune_is_a_free_coordinator_and_one_bundle_per_worker():
    spec = model({"num_cpus": 2, "num_gpus": 1, "workers": 4})
    task = task_resources(spec, "finetune")
    assert task.options == {"num_cpus": 0, "num_gpus": 0}
    assert task.request == Request({"CPU": 2.0, "GPU": 1.0}, 4)
    assert (task.num_cpus, task.num_gpus, task.workers) == (2, 1, 4)


@pytest.mark.parametrize("resources, message", [
    ({"workers": 2}, "resources.workers is 2 but the Model has no finetune"),
])
def test_workers_need_a_finetune(resources, message):
    with pytest.raises(ValidationError, match=message):
        model(resources, finetune=False)


@pytest.mark.parametrize("resources, message", [
    ({"accelerator_type": "A100"}, "accelerator_type A100 is set but num_gpus is 0"),
    ({"custom": {"GPU": 1}}, "custom resource GPU is one of Ray's own"),
    ({"custom": {"accelerator_type:A100": 1}}, "should match pattern"),
    ({"custom": {"ssd": 0}}, "greater than 0"),
    ({"workers": 0}, "greater than or equal to 1"),
    ({"workers": 2, "num_gpus": 0.5}, "2 workers with 0.5 GPU each would share a GPU"),
])
def test_resource_mistakes_are_spec_errors(resources, message):
    with pytest.raises(ValidationError, match=message):
        model(resources)


@pytest.mark.parametrize("options, nodes, expected", [
    ({"num_cpus": 1, "num_gpus": 1}, [CPU_NODE], "asks for 1 GPU; no node has any"),
    ({"num_cpus": 4}, [CPU_NODE, CPU_NODE], "asks for 4 CPU; the largest node has 2 CPU"),
    ({"num_cpus": 1, "memory": 16 * GIB}, [CPU_NODE], "asks for 16 GiB memory; the largest node has 8 GiB memory"),
    ({"num_cpus": 1, "resources": {"ssd": 1}}, [CPU_NODE], "asks for 1 of custom resource ssd; no node has any"),
    ({"num_cpus": 1, "num_gpus": 1, "accelerator_type": "H100"}, [GPU_NODE],
     "asks for an H100 accelerator (accelerator_type:H100); no node has any"),
    ({"num_cpus": 4, "num_gpus": 1}, [CPU_NODE, {"CPU": 2.0, "GPU": 1.0}],
     "asks for 4 CPU; the largest node has 2 CPU"),
    ({"num_cpus": 2, "num_gpus": 1}, [{"CPU": 4.0}, {"CPU": 1.0, "GPU": 4.0}],
     "asks for 2 CPU, 1 GPU on one node; no node has them all"),
])
def test_a_request_no_node_can_hold_names_what_is_missing(options, nodes, expected):
    message, hint = unschedulable(request_of(options), nodes)
    assert message == expected and hint


def test_what_fits_somewhere_is_schedulable_however_busy_the_cluster_is():
    assert unschedulable(request_of({"num_cpus": 2}), [CPU_NODE]) is None
    assert unschedulable(request_of({"num_cpus": 1, "num_gpus": 1, "accelerator_type": "A100"}), [CPU_NODE, GPU_NODE]) is None
    assert unschedulable(request_of({"num_cpus": 0, "num_gpus": 0}), []) is None  # bookkeeping asks nothing
    assert unschedulable(request_of({"num_cpus": 1}), []) == ("the cluster has no live node",
                                                                "start a Ray node (ray start --address ...)")


def test_workers_may_spread_over_nodes_but_must_all_fit_at_once():
    each = {"num_cpus": 2, "num_gpus": 1}
    assert unschedulable(request_of(each, 4), [GPU_NODE, GPU_NODE]) is None        # 2 + 2
    assert unschedulable(request_of(each, 3), [GPU_NODE, {"CPU": 16.0, "GPU": 1.0}]) is None  # 2 + 1
    message, _ = unschedulable(request_of(each, 5), [GPU_NODE, GPU_NODE])
    assert message == "asks for 5 workers of 2 CPU, 1 GPU; the cluster holds 4 at once"
    message, _ = unschedulable(request_of({"num_cpus": 1, "num_gpus": 1}, 2), [CPU_NODE])
    assert message == "asks for 1 GPU per worker; no node has any"


def test_a_deployments_replicas_must_all_fit_at_once():
    from llmops_spec.deployment import DeploymentSpec
    from runners.task_resources import replica_request

    def serve(**block):
        return DeploymentSpec.model_validate({"model": "Model/m", "serve": block}).serve

    assert replica_request(serve()) == Request({"CPU": 1.0}, 1, "replica")
    three_gpus = serve(num_replicas=3, ray_actor_options={"num_cpus": 1, "num_gpus": 1, "accelerator_type": "A100",
                                                          "resources": {"ssd": 1}})
    assert replica_request(three_gpus).each == {"CPU": 1.0, "GPU": 1.0, "ssd": 1.0, "accelerator_type:A100": 0.001}
    message, hint = unschedulable(replica_request(three_gpus), [GPU_NODE | {"ssd": 4.0}])
    assert message == "asks for 3 replicas of 1 CPU, 1 GPU, 1 of custom resource ssd, an A100 accelerator " \
                      "(accelerator_type:A100); the cluster holds 2 at once" and hint == "lower the number of replicas, or add nodes"
    assert unschedulable(replica_request(serve(autoscaling={"min_replicas": 0, "max_replicas": 8})), [CPU_NODE]) is None
    message, _ = unschedulable(replica_request(serve(ray_actor_options={"num_gpus": 1})), [CPU_NODE])
    assert message == "asks for 1 GPU; no node has any"
