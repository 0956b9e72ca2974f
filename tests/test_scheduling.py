"""Which ready nodes share a Ray task: bookkeeping nodes together, in at most the free slots; the rest alone."""

from __future__ import annotations

from runners.scheduler import plan_tasks


def test_nodes_that_ask_for_resources_run_alone_and_bookkeeping_nodes_share_the_free_slots():
    ready = ["Dataset/a:prepare", "Prompt/p0:prompt", "Prompt/p1:prompt", "Model/m:finetune", "Prompt/p2:prompt"]
    bookkeeping = {"Prompt/p0:prompt", "Prompt/p1:prompt", "Prompt/p2:prompt"}
    assert plan_tasks(ready, bookkeeping, free_slots=2) == [
        ["Dataset/a:prepare"], ["Model/m:finetune"], ["Prompt/p0:prompt", "Prompt/p1:prompt"], ["Prompt/p2:prompt"]]
    assert plan_tasks(ready, bookkeeping, free_slots=8)[2:] == [["Prompt/p0:prompt"], ["Prompt/p1:prompt"], ["Prompt/p2:prompt"]]


def test_bookkeeping_nodes_wait_when_no_slot_is_free_and_tasks_are_capped():
    prompts = [f"Prompt/p{i}:prompt" for i in range(100)]
    assert plan_tasks(prompts, set(prompts), free_slots=0) == []
    tasks = plan_tasks(prompts, set(prompts), free_slots=2, per_task=32)
    assert [len(t) for t in tasks] == [32, 32] and tasks[0][0] == "Prompt/p0:prompt"  # the other 36 wait for a slot
    assert [len(t) for t in plan_tasks(prompts[:10], set(prompts), free_slots=4)] == [3, 3, 3, 1]
    assert plan_tasks([], set(), free_slots=2) == []


def test_a_shared_task_gives_each_step_its_own_outcome_and_pushes_each_output(tmp_path):
    from llmops_spec.prompt import PromptSpec
    from runners.objects import fetch
    from runners.remote_odb import RemoteAddress
    from runners.step import StepContext
    from runners.worker import Job, run_jobs

    remote = RemoteAddress(str(tmp_path / "remote"))

    def job(name: str, template: str) -> Job:
        spec = PromptSpec.model_construct(template=template, variables={})  # as a spec edited after validate could be
        ctx = StepContext(root=tmp_path / "driver", node=f"Prompt/{name}:prompt", step="prompt", resource=f"Prompt/{name}",
                          spec=spec, out=tmp_path / "driver" / "out")
        return Job("runners.steps.prompt", ctx, remote)

    ok, broken, fine = run_jobs([job("a", "Hello"), job("b", "{% if %}"), job("c", "Bye")])
    assert ok.status == "applied" and fine.status == "applied" and ok.manifest.nfiles == 1
    assert broken.status == "failed" and "Prompt/b: the template does not compile" in broken.message
    assert broken.retryable is False and broken.manifest is None
    assert not (tmp_path / "driver").exists(), "a task never writes the driver's folder"
    fetch(remote, ok.manifest.oid, tmp_path / "a")
    assert '"template": "Hello"' in (tmp_path / "a" / "prompt.json").read_text()
