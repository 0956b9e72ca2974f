"""The corpus of bad specs: every mistake a user can make, and exactly what the compiler says about it.

Each folder under ``tests/bad_specs/`` is a complete spec project holding one mistake
(the faulty file starts with a comment naming it). Its golden diagnostics live beside it,
in ``tests/bad_specs/<case>.expected.yml`` (outside the case folder, so the compiler does not
read them as specs). Regenerate them after a deliberate change with

    pytest tests/test_bad_specs.py --force-regen

and read the diff: the golden files document what users see.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compiler import compile_project

HERE = Path(__file__).parent
CASES_DIR = HERE / "bad_specs"
CASES = sorted(p for p in CASES_DIR.iterdir() if p.is_dir())

# Problems with a whole file rather than a place in it may report line/column 0.
WHOLE_FILE_CODES = frozenset({"E001", "E002", "E004"})


def golden_path(case: Path) -> Path:
    return case.with_name(case.name + ".expected.yml")


def test_corpus_is_complete() -> None:
    assert len(CASES) >= 45
    names = [case.name for case in CASES]
    assert len({name.split("-", 1)[0] for name in names}) == len(names), "case numbers must be unique"
    orphans = sorted(p.name for p in CASES_DIR.glob("*.expected.yml")
                     if not p.with_name(p.name.removesuffix(".expected.yml")).is_dir())
    assert not orphans, f"golden files without a case folder: {orphans}"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_spec(case: Path, data_regression) -> None:
    try:
        compilation = compile_project(case, use_cache=False)
    except Exception as exc:  # a user's mistake must never crash the compiler
        pytest.fail(f"compile_project raised on {case.name}: {type(exc).__name__}: {exc}")
    diagnostics = [d.to_dict() for d in compilation.diagnostics]

    assert any(d["severity"] == "error" for d in diagnostics), f"{case.name}: the mistake was not reported"
    assert not compilation.ok
    for d in diagnostics:
        if d["code"] not in WHOLE_FILE_CODES:
            assert d["line"] >= 1 and d["col"] >= 1, f"{case.name}: unlocated diagnostic {d}"
        assert not Path(d["file"]).is_absolute(), f"{case.name}: paths are relative to the project: {d}"

    data_regression.check(diagnostics, fullpath=golden_path(case))


def test_parse_cache_gives_the_same_diagnostics(tmp_path: Path) -> None:
    """A warm parse cache (positions re-parsed on demand) reports exactly what a cold run does.

    Run on copies, so the cache is not written into the corpus.
    """
    mismatches = []
    for case in CASES:
        copy = tmp_path / case.name
        shutil.copytree(case, copy)
        cold = compile_project(copy, use_cache=False).diagnostics
        compile_project(copy, use_cache=True)  # fills the cache
        warm = compile_project(copy, use_cache=True).diagnostics
        if warm != cold:
            mismatches.append(f"{case.name}:\n  cold: {cold}\n  warm: {warm}")
    assert not mismatches, "\n".join(mismatches)


def _validate(case: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("LLMOPS_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "llmops_cli.main", "validate", "--no-cache", str(case)],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_cli_validate_reports_every_case() -> None:
    """The real ``llmops validate`` on each case: exit 1, located errors, never a traceback."""
    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        results = list(pool.map(_validate, CASES))
    failures = []
    for case, result in zip(CASES, results):
        problems = []
        if result.returncode != 1:
            problems.append(f"exit code {result.returncode}, expected 1")
        if "Traceback" in result.stdout or "Traceback" in result.stderr:
            problems.append("a traceback was printed")
        if "internal error" in result.stderr:
            problems.append("llmops reported an internal error")
        if "error[" not in result.stdout:
            problems.append("no error[...] line on stdout")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    assert not failures, "\n\n".join(failures)
