"""Which ready nodes share a Ray task: bookkeeping nodes together, in at most the free slots; the rest alone."""

from __future__ import annotations

from runners.scheduling import plan_tasks


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


def test_a_shared_task_gives_each_step_its_own_outcome(tmp_path):
    from llmops_spec.prompt import PromptSpec
    from runners.step import StepContext
    from runners.worker import run_steps

    def job(name: str, template: str) -> tuple[str, StepContext]:
        spec = PromptSpec.model_construct(template=template, variables={})  # as a spec edited after validate could be
        out = tmp_path / name
        out.mkdir()
        return "runners.steps.prompt", StepContext(root=tmp_path, node=f"Prompt/{name}:prompt", step="prompt",
                                                   resource=f"Prompt/{name}", spec=spec, out=out)

    ok, broken, fine = run_steps([job("a", "Hello"), job("b", "{% if %}"), job("c", "Bye")])
    assert ok[0] == "ok" and fine[0] == "ok"
    assert broken[0] == "failed" and "Prompt/b: the template does not compile" in broken[1] and broken[3] is False
    assert (tmp_path / "a" / "prompt.json").exists() and not any((tmp_path / "b").iterdir())
