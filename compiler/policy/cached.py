"""The policy verdict a plan shows, cached: a plan served from the plan cache compiles nothing, nor should this.

A verdict depends on the spec files (their digest, which the plan carries), the day
(waivers expire; UTC, like CI) and the code that judges (the compiler, the spec
language, the pack, the CEL engine, detect-secrets). Under that key the report document
(``PolicyReport.to_dict()``) is kept in ``policy-report.json`` of the project's cache folder; on a hit
nothing but this module and the JSON reader is imported.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from compiler.audit.snapshot import source_signature
from compiler.cache_dir import cache_dir
from compiler.discover import project_root
from compiler.installed import library_signature

CACHE_VERSION = 2
_CODE = ("compiler", "compiler.checks", "compiler.policy", "llmops_spec")
_ENGINES = ("cel_expr_python", "detect_secrets")  # the installations in use, by module name


def utc_today() -> dt.date:
    """The day by UTC, as CI runners keep it, so a waiver expires at the same moment everywhere."""
    return dt.datetime.now(dt.UTC).date()


def cache_file(root: Path) -> Path:
    return cache_dir(root) / "policy-report.json"


def _key(specs_digest: str, today: dt.date) -> str:
    engines = [repr(library_signature(name)) for name in _ENGINES]
    return "\n".join([f"policy-report/{CACHE_VERSION}", specs_digest, today.isoformat(), *engines,
                      *(source_signature(package) for package in _CODE)])


def policy_verdict(path: Path, specs_digest: str, today: dt.date | None = None, use_cache: bool = True,
                   compilation: Any = None) -> dict[str, Any]:
    """The report document for the specs under ``path``, whose files hash to ``specs_digest``.

    From the cache when the specs, the day and the code are those it was judged for; else
    judged on ``compilation`` when the caller has one, else on a compilation made here.
    """
    today = today or utc_today()
    if use_cache:
        try:
            stored = json.loads(cache_file(project_root(path)).read_text(encoding="utf-8"))
            if stored.get("key") == _key(specs_digest, today):
                return stored["report"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    if compilation is None:
        from compiler.compile import compile_project

        compilation = compile_project(path, use_cache=use_cache)
    return remember_verdict(compilation, today, specs_digest)


def remember_verdict(compilation: Any, today: dt.date | None = None, expected_digest: str | None = None) -> dict[str, Any]:
    """Judge a compilation and keep the verdict for the next plan of the same specs on the same day.

    For a caller that compiles anyway (the plan cache, on a miss), so that the plan's policy
    section does not compile the project a second time.
    """
    from compiler.policy.check import check_policies

    today = today or utc_today()
    body = check_policies(compilation, today).to_dict()
    digest = compilation.project.specs_digest
    if compilation.ok and (expected_digest is None or digest == expected_digest):  # files that moved are not kept
        target = cache_file(compilation.project.root)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": _key(digest, today), "report": body}), encoding="utf-8")
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only checkout plans all the same
    return body
