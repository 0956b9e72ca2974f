"""The state lock is written atomically by one process at a time, and refusals name the holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler.lockfile import LOCK_NAME, LockEntry, read_lock
from runners.files import write_atomic
from runners.state import LockWriter, StateLocked, forget_node, record_node, state_guard
from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from runners.state import state_guard
with state_guard(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_subprocess(root):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_record_and_forget_nodes(tmp_path):
    with state_guard(tmp_path):
        record_node(tmp_path, "Dataset/a:prepare", LockEntry("f1", "prepare", "Dataset/a"))
        record_node(tmp_path, "Model/m:finetune", LockEntry("f2", "finetune", "Model/m", inputs={"Dataset/a:prepare": "f1"}))
        forget_node(tmp_path, "Dataset/a:prepare")
    lock, problems = read_lock(tmp_path)
    assert problems == [] and list(lock.nodes) == ["Model/m:finetune"]
    assert lock.nodes["Model/m:finetune"].inputs == {"Dataset/a:prepare": "f1"}
    assert (tmp_path / LOCK_NAME).read_text().endswith("}\n")


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    proc = hold_in_subprocess(tmp_path)
    try:
        with pytest.raises(StateLocked) as info:
            with state_guard(tmp_path):
                pass
        assert f"pid {proc.pid}" in info.value.holder
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_releases_the_lock(tmp_path):
    proc = hold_in_subprocess(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with state_guard(tmp_path, timeout=5):
        record_node(tmp_path, "Dataset/a:prepare", LockEntry("f1", "prepare", "Dataset/a"))
    assert list(read_lock(tmp_path)[0].nodes) == ["Dataset/a:prepare"]


def test_atomic_write_never_leaves_half_a_file(tmp_path):
    target = tmp_path / "llmops.lock"
    write_atomic(target, "old\n")

    # A failure while writing leaves the old file and no temp file behind.
    with pytest.raises(TypeError):
        write_atomic(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["llmops.lock"]
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"


def test_concurrent_writers_serialize_without_losing_entries(tmp_path):
    script = (
        "import sys\nfrom pathlib import Path\nfrom compiler.lockfile import LockEntry\n"
        "from runners.state import record_node, state_guard\n"
        "root, name = Path(sys.argv[1]), sys.argv[2]\n"
        "for i in range(15):\n"
        "    with state_guard(root, timeout=30):\n"
        "        record_node(root, f'Dataset/{name}-{i}:prepare', LockEntry(str(i), 'prepare', f'Dataset/{name}-{i}'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name], cwd=REPO) for name in ("a", "b", "c")]
    deadline = time.time() + 60
    for proc in procs:
        assert proc.wait(timeout=max(1, deadline - time.time())) == 0
    assert len(read_lock(tmp_path)[0].nodes) == 45


def test_the_lock_writer_writes_what_lock_to_json_writes_without_rereading(tmp_path):
    from compiler.lockfile import Lock

    writer = LockWriter(tmp_path, Lock())
    odd = LockEntry("f2", "prompt", 'Prompt/"q"', outputs={"artifacts/x": "a.dir", "serve": {"app": "é", "config": {}}},
                    metrics={"n": 3, "list": [], "nested": [1, {"b": None}], "big": 1e16})
    steps = [("record", {"Dataset/a:prepare": LockEntry("f1", "prepare", "Dataset/a")}),
             ("record", {'Prompt/"q":prompt': odd, "Model/m:finetune": LockEntry("f3", "finetune", "Model/m")}),
             ("record", {"Dataset/a:prepare": LockEntry("f4", "prepare", "Dataset/a", inputs={"x": "y"})}),
             ("forget", "Model/m:finetune"), ("forget", "Dataset/a:prepare"), ("forget", 'Prompt/"q":prompt')]
    with state_guard(tmp_path):
        for action, arg in steps:
            lock = writer.record(arg) if action == "record" else writer.forget(arg)
            text = (tmp_path / LOCK_NAME).read_text()
            assert text == Lock(lock.nodes).to_json()
            assert read_lock(tmp_path)[0].nodes == lock.nodes
    assert read_lock(tmp_path)[0].nodes == {}


def test_state_is_written_through_temp_files_in_llmops_own_folder(tmp_path, monkeypatch):
    """The lock and the apply log: a write killed before its rename leaves its temp file in .llmops/tmp, which git
    ignores, never beside llmops.lock where `git add -A` would commit it."""
    import runners.files as files
    from state_helpers import write_vouched_lock

    renamed: list[tuple[Path, Path]] = []
    real = files.os.replace
    monkeypatch.setattr(files.os, "replace", lambda src, dst: (renamed.append((Path(src), Path(dst))), real(src, dst)))
    write_vouched_lock(tmp_path, {"Dataset/a:prepare": LockEntry("f1", "prepare", "Dataset/a")})
    state = [(src, dst) for src, dst in renamed if dst.parent == tmp_path]
    assert sorted(dst.name for _, dst in state) == ["llmops.applies.jsonl", "llmops.lock"]
    assert all(src.parent == tmp_path / ".llmops" / "tmp" for src, _ in state), state
    assert (tmp_path / ".llmops" / ".gitignore").read_text() == "*\n"
