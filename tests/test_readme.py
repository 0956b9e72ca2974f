"""The README's two commands: the test command is what CI runs, and the first one runs the example end to end.

The example run takes the README's own line (less the install, which this test session
already stands on) and runs it in a git repository holding the files of this checkout,
as a fresh clone would: validate, policy, init, apply (prepare -> LoRA fine-tune of the
packaged MiniLM -> evaluate -> gate -> Ray Serve), one real request; then a second apply
that must be a no-op in seconds, and a tree in which the run modified nothing git tracks.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, git_repo

COMMAND_LINES = [line for line in (REPO / "README.md").read_text(encoding="utf-8").split("```bash", 1)[1].split("```", 1)[0]
                 .splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _checkout_copy(target: Path) -> Path:
    """The files of this checkout that git would see (tracked, or new and not ignored), as one commit."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return git_repo(target)


def test_the_readme_gives_install_and_example_then_the_test_command_ci_runs():
    assert len(COMMAND_LINES) == 2
    example, tests = COMMAND_LINES
    assert example.startswith("python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && ")
    assert "llmops apply specs --yes" in example and "llmops call " in example
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == tests
    install = example.split(" && .venv/bin/llmops", 1)[0].split(" && ")
    assert [line for line in ci if line.startswith(("python3 -m venv", ".venv/bin/pip"))] == \
           [step.replace("pip install ", "pip install -q ", 1) for step in install]


@pytest.mark.slow
def test_the_readme_example_runs_end_to_end_and_then_plans_nothing(tmp_path):
    repo = _checkout_copy(tmp_path / "clone")
    example = COMMAND_LINES[0]
    steps = example.split(" && ")
    steps = steps[next(i for i, step in enumerate(steps) if step.startswith(".venv/bin/llmops")):]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # the default DVC remote, kept in the test's folder
    env.pop("RAY_ADDRESS", None)
    try:
        started = time.monotonic()
        for step in steps:
            argv = shlex.split(step)
            argv[0] = str(bin_dir / Path(argv[0]).name)
            done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, (step, done.stdout[-3000:], done.stderr[-3000:])
        took = time.monotonic() - started
        assert '"prediction": "billing"' in done.stdout, done.stdout
        assert took < 600, f"the example took {took:.0f} s"

        started = time.monotonic()
        again = subprocess.run([str(bin_dir / "llmops"), "apply", "specs", "--yes"], cwd=repo, env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr
        assert time.monotonic() - started < 30
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout
        assert status == "", status
    finally:
        subprocess.run([str(bin_dir / "llmops"), "down", "specs"], cwd=repo, env=env, capture_output=True, timeout=120)
