"""The cached compilation behind `llmops plan` never plans differently from a full compile, and spares the spec models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler import compile_project, plan_cache, plan_project
from compiler.fingerprint import fingerprint_graph
from compiler.lockfile import LockEntry
from compiler.plan_cache import cache_path, plan_path
from compiler.render.plan import render_plan_json
from tests.conftest import REPO, run_llmops, write_project
from tests.projects import BASE, files
from tests.state_helpers import write_vouched_lock

HEAVY = ("pydantic", "llmops_spec", "jinja2", "ruamel")


def settle(root: Path, age_s: float = 60) -> None:
    """Backdate every file: the cache trusts no data modified moments before a compilation read it."""
    when = time.time() - age_s
    for path in root.rglob("*"):
        if path.is_file() and ".llmops" not in path.parts:
            os.utime(path, (when, when), follow_symlinks=False)


def full(root: Path) -> str:
    """What a full compile plans, as plan JSON, or its diagnostics when it cannot plan."""
    plan, diagnostics = plan_project(compile_project(root, use_cache=False))
    return render_plan_json(plan) if plan is not None else repr(diagnostics)


def fast(root: Path) -> tuple[str, bool]:
    planned = plan_path(root)
    shown = render_plan_json(planned.plan) if planned.plan is not None else repr(planned.diagnostics)
    return shown, planned.cached


def warmed(root: Path) -> Path:
    settle(root)
    plan_path(root)
    assert fast(root)[1], "a second plan of unchanged specs is served from the cache"
    return root


def write_lock(root: Path) -> None:
    """The lock an apply of everything would leave."""
    compilation = compile_project(root, use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    nodes = {nid: LockEntry(fp.value, fp.step, str(compilation.graph.nodes[nid].resource), fp.code, fp.spec, fp.inputs,
                            fp.data) for nid, fp in prints.items()}
    write_vouched_lock(root, nodes)  # as apply writes it: every entry vouched for by the apply log


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def change_lock_entry(root: Path) -> None:
    write_lock(root)
    body = json.loads((root / "llmops.lock").read_text())
    entry = body["nodes"]["Model/clf:finetune"]
    entry["fingerprint"] = "0" * 32
    entry["spec"]["finetune"]["lora"]["r"] = 2
    write_vouched_lock(root, {"Model/clf:finetune": LockEntry(**entry)}, replace=False)  # as another apply would


EDITS: dict[str, Callable[[Path], None]] = {
    "a spec field": lambda root: edit(root, "model.yaml", "epochs: 1", "epochs: 2"),
    "a comment only": lambda root: edit(root, "model.yaml", "kind: Model", "kind: Model  # note"),
    "a reference": lambda root: edit(root, "gate.yaml", "Dataset/tickets@eval", "Dataset/tickets@train"),
    "data content": lambda root: (root / "data/t.jsonl").write_text('{"text": "other", "label": "b", "lang": "de"}\n'),
    "data, same size": lambda root: (root / "data/t.jsonl").write_text(BASE["data/t.jsonl"].replace("hello", "HELLO")),
    "a .dvc file added": lambda root: (root / "data/t.jsonl.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: t.jsonl\n"),
    "the data file removed": lambda root: (root / "data/t.jsonl").unlink(),
    "a spec file added": lambda root: write_project(root, {"prompt2.yaml": BASE["prompt.yaml"].replace("classify", "other")}),
    "a spec file removed": lambda root: (root / "deploy.yaml").unlink(),
    "a broken spec": lambda root: edit(root, "model.yaml", "task: sequence-classification", "task: [oops"),
    "a warning": lambda root: edit(root, "gate.yaml", "{metric: accuracy, min: 0.5}", "{metric: bleu, min: 0.5}"),
    "the lock written": write_lock,
    "a lock entry changed": change_lock_entry,
    "the lock broken": lambda root: (root / "llmops.lock").write_text("{not json"),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_after_an_edit_the_cached_plan_is_the_full_plan_byte_for_byte(project, name):
    root = warmed(project(files()))
    EDITS[name](root)
    shown, _ = fast(root)
    assert shown == full(root)
    settle(root, age_s=30)  # and once the cache holds the edited state, it serves it unchanged
    plan_path(root)
    shown, cached = fast(root)
    assert shown == full(root)
    assert cached == compile_project(root, use_cache=False).ok  # a project with errors is never cached


def test_a_lock_change_keeps_the_cache_the_lock_is_read_on_every_plan(project):
    root = warmed(project(files()))
    for change in (write_lock, change_lock_entry):
        change(root)
        shown, cached = fast(root)
        assert cached and shown == full(root)
    assert '"action": "update"' in shown and "spec.finetune.lora.r: 2 -> 4" in shown


def test_warnings_come_back_from_the_cache(project):
    gate = BASE["gate.yaml"].replace("{metric: accuracy, min: 0.5}", "{metric: bleu, min: 0.5}")
    root = warmed(project(files(gate_yaml=gate)))
    planned = plan_path(root)
    assert planned.cached and [d.code for d in planned.diagnostics] == ["W103"]
    assert planned.diagnostics == compile_project(root, use_cache=False).diagnostics


def test_data_modified_moments_before_a_compile_is_not_trusted_to_the_cache(project):
    root = warmed(project(files()))
    (root / "data/t.jsonl").write_text('{"text": "now", "label": "a", "lang": "en"}\n')
    assert not plan_path(root).cached
    assert not plan_path(root).cached  # the signature could still hide a change in the same clock tick
    settle(root)
    plan_path(root)
    assert plan_path(root).cached


def test_a_project_with_errors_is_never_cached(project):
    root = project(files(model_yaml=BASE["model.yaml"].replace("Dataset/tickets@train", "Dataset/nope@train")))
    settle(root)
    assert plan_path(root).plan is None
    assert not cache_path(root).exists()


def test_other_code_misses(project, monkeypatch):
    root = warmed(project(files()))
    monkeypatch.setattr(plan_cache, "code_state", lambda: ("another llmops",))
    assert not plan_path(root).cached


def test_no_cache_compiles_and_refreshes(project):
    root = warmed(project(files()))
    cache_path(root).write_bytes(b"garbage")
    assert not plan_path(root).cached
    cache_path(root).unlink()
    assert not plan_path(root, use_cache=False).cached
    assert plan_path(root).cached


def test_a_data_folder_and_a_symlinked_data_file(project, tmp_path):
    datasets = BASE["datasets.yaml"].replace("data/t.jsonl", "data/parts")
    root = project(files(datasets_yaml=datasets, **{"data/t.jsonl": None, "data/parts/a.jsonl": BASE["data/t.jsonl"]}))
    warmed(root)
    (root / "data/parts/b.jsonl").write_text(BASE["data/t.jsonl"])
    assert fast(root)[0] == full(root)

    linked = project(files(**{"data/t.jsonl": None, "data/one.jsonl": BASE["data/t.jsonl"],
                              "data/two.jsonl": BASE["data/t.jsonl"].replace("a", "b")}))
    (linked / "data/t.jsonl").symlink_to("one.jsonl")
    warmed(linked)
    (linked / "data/t.jsonl").unlink()
    (linked / "data/t.jsonl").symlink_to("two.jsonl")
    settle(linked)
    assert fast(linked)[0] == full(linked)


def test_a_moved_project_and_a_single_file_plan_miss(project, tmp_path):
    root = warmed(project(files()))
    moved = root.rename(tmp_path / "moved")
    assert not plan_path(moved).cached
    assert fast(moved)[0] == full(moved)
    single = moved / "datasets.yaml"
    assert not plan_path(single).cached
    settle(moved)
    plan_path(single)
    assert plan_path(single).cached and fast(single)[0] == full(single)


_PROBE = """
import json, sys
from pathlib import Path
from compiler.plan_cache import load_inputs
hit = load_inputs(Path(sys.argv[1])) is not None  # this file's own imports are light too
from llmops_cli.main import main
try:
    main(["plan", sys.argv[1], "--format", "json"])
except SystemExit as exc:
    code = exc.code
print(json.dumps([hit, code, sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})]))
"""


def test_a_cached_plan_imports_no_spec_model(example):
    settle(example)
    for attempt in range(3):  # other work may rewrite the compiler between two runs; the probe would then miss
        run_llmops("plan", str(example), cwd=REPO)
        probe = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), str(example)], cwd=REPO,
                               capture_output=True, text=True, check=True)
        hit, code, heavy = json.loads(probe.stdout.strip().splitlines()[-1])
        if hit:
            break
    assert hit and code in (0, None) and heavy == []


@pytest.mark.slow
def test_the_cli_prints_the_same_from_the_cache_in_every_format(example):
    settle(example)
    run_llmops("plan", str(example), cwd=REPO)
    for fmt in ("text", "json", "markdown"):
        cached = run_llmops("plan", str(example), "--format", fmt, cwd=REPO)
        compiled = run_llmops("plan", str(example), "--format", fmt, "--no-cache", cwd=REPO)
        assert (cached.returncode, cached.stdout, cached.stderr) == (compiled.returncode, compiled.stdout, compiled.stderr)


def test_folders_resolved_once_resolve_as_realpath_does(tmp_path):
    from compiler.paths import _realpath, resolve_inside

    root = tmp_path / "root"
    (root / "data/real").mkdir(parents=True)
    (root / "data/real/f.jsonl").write_text("x")
    (root / "data/linked").symlink_to("real")
    (root / "data/leaf.jsonl").symlink_to("real/f.jsonl")
    (root / "data/out.jsonl").symlink_to(tmp_path)
    for relative in ("data/real/f.jsonl", "data/linked/f.jsonl", "data/leaf.jsonl", "data/linked/../real/f.jsonl",
                     "data/missing/x.jsonl", "data/linked/..", "data/out.jsonl", "../root/data/leaf.jsonl", "."):
        joined = str(root / relative)
        assert _realpath(joined) == os.path.realpath(joined), relative
    assert resolve_inside(root, "data/out.jsonl") is None and resolve_inside(root, "/etc/passwd") is None
    assert resolve_inside(root, "data/linked/f.jsonl") == root / "data/real/f.jsonl"


def test_a_plan_that_misses_compiles_once_its_policy_section_included(example, monkeypatch, capsys):
    from compiler import compile as compile_module
    from llmops_cli.main import main

    compiled = []
    real = compile_module.compile_project
    monkeypatch.setattr(compile_module, "compile_project", lambda *args, **kwargs: compiled.append(args) or real(*args, **kwargs))
    with pytest.raises(SystemExit) as exit_code:
        main(["plan", str(example)])
    assert exit_code.value.code == 0 and len(compiled) == 1
    assert "policy" in capsys.readouterr().out.lower()
