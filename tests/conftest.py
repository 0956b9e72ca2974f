"""Shared fixtures: small spec projects written to temp folders."""

from __future__ import annotations

import contextlib

import os
import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "specs"


def write_project(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path -> text, dedented, or bytes) under ``root``."""
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory) -> Path:
    """The compiler's caches for the whole session (subprocesses included) in a temp folder, not in ~/.cache."""
    folder = tmp_path_factory.mktemp("llmops-cache")
    before = os.environ.get("LLMOPS_CACHE_DIR")
    os.environ["LLMOPS_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("LLMOPS_CACHE_DIR", None)
    else:
        os.environ["LLMOPS_CACHE_DIR"] = before


@pytest.fixture
def project(tmp_path: Path):
    """``project({...files})`` -> a fresh folder holding them (one per call)."""
    counter = iter(range(1_000_000))
    return lambda files: write_project(tmp_path / f"p{next(counter)}", files)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of the example project, free to edit."""
    target = tmp_path / "specs"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".llmops", "llmops.lock", "llmops.applies.jsonl", ".dvc", ".dvcignore", "artifacts"))
    return target


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """One real local Ray cluster for the whole session (starting one costs seconds); stopped at the end."""
    from runners.cluster import start_local, stop_local

    home = tmp_path_factory.mktemp("ray-home")
    cluster = start_local(home, num_cpus=2)
    yield cluster
    stop_local(home)


@pytest.fixture(scope="session")
def ray_test_token(tmp_path_factory) -> Path:
    """One test-only Ray token for every Ray this test process starts (Ray caches the token it loaded)."""
    import secrets

    token = tmp_path_factory.mktemp("ray-auth") / "token"
    token.write_text(secrets.token_hex(16))
    return token


@contextlib.contextmanager
def ray_token_auth(token: Path):
    """Token auth for a Ray started in this process, deliberately, with the session's test token.

    Ray 2.60 turns token auth on, reads RAY_AUTH_MODE into its config once per process and
    caches the token it loaded, so every module that starts Ray in-process uses the same
    token (``ray_test_token``) and has the config re-read (as Ray does when it turns token
    auth on). Yields the environment a subprocess needs to reach that Ray; restores the
    process's environment on exit.
    """
    from ray._raylet import Config

    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("RAY_AUTH_TOKEN", raising=False)
        Config.initialize("")
        yield env


def run_llmops(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    """``llmops ARGS`` as a user runs it: a subprocess of the installed console script."""
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("llmops")
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def git_repo(root: Path) -> Path:
    """``root`` as a git repository with one commit of everything in it."""
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "ci@example.com"], ["config", "user.name", "CI"],
                 ["add", "-A"], ["commit", "-qm", "specs", "--allow-empty"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root
