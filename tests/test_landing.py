"""The driver's side of a no-shared-disk apply, with real DVC and a folder remote and without Ray: a node lands
only from what the remote holds, intact; sources are staged and must be what the plan fingerprinted; the apply
loop runs on an in-process executor exactly as on Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git_repo, write_project

from runners.dvc_store import Store, init_project
from runners.objects import push_folder
from runners.remote_odb import RemoteAddress
from runners.step import NodeFailed, StepContext
from runners.worker import Job, run_job

DATASET = """
apiVersion: llmops/v1
kind: Dataset
metadata: {name: d}
spec:
  source: {path: data/rows.jsonl}
  columns: {text: string}
"""
PROMPT = """
apiVersion: llmops/v1
kind: Prompt
metadata: {name: p}
spec:
  template: "Say: {{ text }}"
  variables:
    text: {from: Dataset/d}
"""


@pytest.fixture
def specs(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_SCRATCH", str(tmp_path / "worker-scratch"))
    root = write_project(tmp_path / "repo" / "specs", {"data/rows.jsonl": '{"text": "a"}\n{"text": "b"}\n',
                                                        "d.yaml": DATASET, "p.yaml": PROMPT})
    git_repo(tmp_path / "repo")
    init_project(root, str(tmp_path / "remote"))
    return root


def compiled(root: Path):
    from compiler import compile_project
    from compiler.fingerprint import fingerprint_graph

    compilation = compile_project(root)
    assert compilation.ok, compilation.diagnostics
    return compilation, fingerprint_graph(compilation.project, compilation.graph)


def test_a_folder_altered_on_the_remote_after_its_push_is_not_landed(specs, tmp_path):
    out = write_project(tmp_path / "out", {"prompt.json": "{}\n"})
    store = Store(specs)
    try:
        manifest = push_folder(store.remote(), out, "Prompt/p:prompt")
        listing = json.loads((tmp_path / "remote/files/md5" / manifest.oid[:2] / manifest.oid[2:]).read_bytes())
        target = tmp_path / "remote/files/md5" / listing[0]["md5"][:2] / listing[0]["md5"][2:]
        target.chmod(0o644)
        target.write_text('{"injected": true}\n')
        final = specs / "artifacts/prompt/p/prompt"
        with pytest.raises(NodeFailed, match="is not what the task reported"):
            store.land(final, manifest)
        assert not final.exists() and not (specs / "artifacts/prompt/p/prompt.dvc").exists()
        assert not list(store.scratch().iterdir()), "no half-landed folder is left"
    finally:
        store.close()


def test_a_folder_landed_in_place_is_checked_on_the_remote_and_pulled_back_on_demand(specs, tmp_path):
    """``land_many(fetch=False)``: the .dvc file and the listing, no file brought here; an older version in the
    workspace goes (it would contradict the .dvc file); ``restore`` (as ``llmops pull``) brings the files."""
    final = specs / "artifacts/prompt/p/prompt"
    write_project(final, {"prompt.json": "an older version\n"})
    store = Store(specs)
    try:
        manifest = push_folder(store.remote(), write_project(tmp_path / "out", {"prompt.json": "{}\n", "n.txt": "2\n"}),
                               "Prompt/p:prompt")
        assert store.land_many({"p": (final, manifest)}, fetch=False) == {"p": manifest.oid}
        assert not final.exists(), "the workspace does not keep a version its .dvc file no longer names"
        assert store.recorded_md5(final) == manifest.oid and "nfiles: 2" in (specs / "artifacts/prompt/p/prompt.dvc").read_text()
        assert store.repo.cache.local.exists(manifest.oid), "the listing is in the cache: DVC knows the tree"
        store.restore([final])
        assert (final / "prompt.json").read_text() == "{}\n" and (final / "n.txt").read_text() == "2\n"
        lost = push_folder(store.remote(), write_project(tmp_path / "lost", {"x.txt": "gone\n"}), "Prompt/q:prompt")
        listing = json.loads((tmp_path / "remote/files/md5" / lost.oid[:2] / lost.oid[2:]).read_bytes())
        (tmp_path / "remote/files/md5" / listing[0]["md5"][:2] / listing[0]["md5"][2:]).unlink()
        other = specs / "artifacts/prompt/q/prompt"
        (failed,) = store.land_many({"q": (other, lost)}, fetch=False).values()
        assert isinstance(failed, NodeFailed) and "holds no object" in failed.message
        assert not (specs / "artifacts/prompt/q/prompt.dvc").exists()
    finally:
        store.close()


def test_sources_are_staged_on_the_remote_and_refused_once_they_differ_from_the_plan(specs, tmp_path):
    from runners.staging import staged_sources

    compilation, prints = compiled(specs)
    node = compilation.graph.nodes["Dataset/d:prepare"]
    store = Store(specs)
    try:
        staged = staged_sources(compilation.project, node, store, prints[node.id])
        [(rel, md5)] = staged.objects.items()
        assert rel == "data/rows.jsonl" and prints[node.id].data == {"data/rows.jsonl": md5}
        assert (tmp_path / "remote/files/md5" / md5[:2] / md5[2:]).read_bytes() == (specs / rel).read_bytes()
        (specs / rel).write_text('{"text": "edited after plan"}\n')
        with pytest.raises(NodeFailed, match="data/rows.jsonl changed since the plan was made") as refused:
            staged_sources(compilation.project, node, store, prints[node.id])
        assert refused.value.retryable is False and "plan again" in refused.value.hint
    finally:
        store.close()


def test_a_step_that_writes_nothing_is_refused_by_its_task(tmp_path):
    from llmops_spec.prompt import PromptSpec

    ctx = StepContext(root=tmp_path / "driver", node="Prompt/p:prompt", step="prompt", resource="Prompt/p",
                      spec=PromptSpec.model_construct(template="x", variables={}), out=tmp_path / "driver" / "out")
    outcome = run_job(Job("empty_step", ctx, RemoteAddress(str(tmp_path / "remote"))))
    assert outcome.status == "failed" and "Prompt/p:prompt produced no output files" in outcome.message
    assert outcome.retryable is False and outcome.manifest is None


def test_the_apply_loop_lands_every_node_from_the_remote_on_an_in_process_executor(specs, tmp_path):
    from compiler.lockfile import read_lock
    from compiler.plan import Plan, plan_changes
    from runners.apply import Applier
    from runners.executor import LocalExecutor
    from runners.state import state_guard

    compilation, prints = compiled(specs)
    plan = Plan.from_dict(plan_changes(compilation.graph, prints, read_lock(specs)[0],
                                       compilation.project.specs_digest).to_dict())
    executor = LocalExecutor()
    store = Store(specs)
    try:
        with state_guard(specs):
            report = Applier(compilation, plan, prints, store, None, executor=executor).run()
    finally:
        store.close()
    assert [(n.node, n.status) for n in report.nodes] == [("Dataset/d:prepare", "applied"), ("Prompt/p:prompt", "applied")]
    assert [nodes for nodes, _ in executor.sent] == [["Dataset/d:prepare"], ["Prompt/p:prompt"]]
    assert executor.sent[1][1] == {"num_cpus": 0, "num_gpus": 0}  # bookkeeping asks for nothing
    prepare = report.nodes[0].transfer
    assert prepare["fetched_bytes"] == len('{"text": "a"}\n{"text": "b"}\n') and prepare["pushed_bytes"] > 0
    assert {"fetch_s", "push_s", "land_s"} <= prepare.keys()
    lock = read_lock(specs)[0]
    md5 = lock.nodes["Dataset/d:prepare"].outputs["artifacts/dataset/d/prepare"]
    assert (specs / "artifacts/dataset/d/prepare.dvc").read_text().count(md5) == 1
    assert (specs / "artifacts/dataset/d/prepare/all.jsonl").read_text().count("\n") == 2
    assert not list((tmp_path / "worker-scratch").iterdir()), "each task's scratch is removed"


def test_a_dvc_file_is_written_through_a_temp_file_git_does_not_see(specs, tmp_path, monkeypatch):
    import os

    renamed: list[tuple[Path, Path]] = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append((Path(src), Path(dst))), real(src, dst)))
    store = Store(specs)
    try:
        manifest = push_folder(store.remote(), write_project(tmp_path / "out", {"prompt.json": "{}\n"}), "Prompt/p:prompt")
        store.land_many({"p": (specs / "artifacts/prompt/p/prompt", manifest)}, fetch=False)
    finally:
        store.close()
    (src, _), = [(s, d) for s, d in renamed if d.name == "prompt.dvc"]
    assert src.parent == specs / ".llmops" / "tmp", "not beside the .dvc file, where git add -A would pick it up"
