"""Hostile inputs (issue 15, holes 12-14): each test performs the attack and asserts a located diagnostic or a
clear message, with no traceback, no "internal error", no crash, and nothing injected into the outputs."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO, run_llmops, write_project
from projects import files

ATTACK = "x\n::error file=evil.py,line=1::pwned\r\n::add-mask::%0A<img src=x onerror=alert(1)> | `code` & **bold** [l](u)"


def assert_clean(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The command failed cleanly: its exit code, no traceback, no internal error, no crash."""
    out = result.stdout + result.stderr
    assert result.returncode == code, out[-3000:]
    assert "Traceback" not in out and "internal error" not in out and "a bug in llmops" not in out, out[-3000:]
    return out


def _run_python(code: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


# --- CEL: one engine, capped before it sees an expression (hole 13, 14) -------------------------------------------

CHAIN = "resource" + ".a" * 30_000


def _policy(rule: str, message: str = "the rule holds") -> str:
    return f"""
        apiVersion: llmops/v1
        kind: Policy
        metadata: {{name: hostile}}
        spec:
          severity: error
          match: {{kinds: [Deployment]}}
          rule: {json.dumps(rule)}
          message: {json.dumps(message)}
        """


def test_cel_member_chain_is_located_in_validate_policy_and_plan(tmp_path):
    """30,000 steps of ``a.a.a`` once segfaulted the Rust engine: now a located E232 in every command."""
    root = write_project(tmp_path / "p", files(policy_yaml=_policy(CHAIN)))
    for command in (["validate", "."], ["policy", "check", "."], ["plan", "."]):
        out = assert_clean(run_llmops(*command, cwd=root, timeout=120))
        assert "policy.yaml:7:" in out and ("E232" in out or "P101" in out), (command, out[-2000:])
        assert len(out) < 20_000, "the expression is not echoed back whole"


def test_cel_filter_member_chain_is_located(project):
    dataset = files()["datasets.yaml"].replace("- dedup: {columns: [text]}", "- filter: {expr: \"text" + ".a" * 30_000 + "\"}")
    root = project(files(datasets_yaml=dataset))
    out = assert_clean(run_llmops("validate", ".", cwd=root))
    assert "datasets.yaml:8:" in out and "E232" in out


def test_cel_limits_are_checked_by_a_scan_that_reads_strings_and_numbers():
    from compiler.cel import MAX_DEPTH, MAX_LENGTH, cel_syntax_error, expression_limits

    assert expression_limits("a" + ".b" * MAX_DEPTH) is None
    assert expression_limits("a" + ".b" * (MAX_DEPTH + 1)).limit
    assert expression_limits("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1)).limit
    assert expression_limits("x" * (MAX_LENGTH + 1)).limit
    problem = expression_limits("size(x) > 1 &&\n  " + "f(" * 30 + "1" + ")" * 30)
    assert (problem.line, problem.col) == (2, 2 + 2 * (MAX_DEPTH + 1))
    # brackets and dots inside strings and numbers are not nesting
    assert expression_limits("name == '" + "((((.a" * 40 + "' && 1.5 > 0.5") is None
    assert expression_limits('r"' + ")" * 50 + '" == x') is None
    # a syntax error from cel-cpp keeps its position; a depth cel-cpp refuses reads as a limit, located
    assert (cel_syntax_error("size(text").line, cel_syntax_error("size(text").col) == (1, 10)
    assert cel_syntax_error("+".join(["1"] * 40)).limit


def test_cel_iteration_budget_is_a_finding_not_an_internal_error(tmp_path):
    ten_thousand = "[" + ",".join(["1"] * 200) + "]"
    rule = f"{ten_thousand}.all(x, {ten_thousand}.all(y, x == y))"
    root = write_project(tmp_path / "p", files(policy_yaml=_policy(rule)))
    out = assert_clean(run_llmops("policy", "check", ".", cwd=root))
    assert "P102" in out and "evaluation budget" in out


def test_cel_filter_budget_is_the_nodes_own_error():
    from runners.data.filters import cel_filter
    from runners.data.table import Table
    from runners.step import NodeFailed

    table = Table({"tags": "list"}, [{"tags": list(range(20_000))}], ["data.jsonl:1"])
    with pytest.raises(NodeFailed, match=r"data.jsonl:1: .*evaluation budget"):
        cel_filter(table, "tags.all(t, t >= 0)")
    with pytest.raises(NodeFailed, match="not valid CEL.*member selections"):
        cel_filter(table, "tags" + ".a" * 100)


def test_one_cel_engine():
    """validate, filters and policies share cel-expr-python; the Rust engine is no dependency and never loads."""
    assert "common-expression-language" not in (REPO / "pyproject.toml").read_text()
    for folder in ("compiler", "runners", "llmops_cli", "llmops_spec"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"^\s*(import cel\b|from cel\b)|find_spec\(.cel.\)", text, re.MULTILINE), path
    probe = ("import sys; from compiler.checks.cel_rules import check_cel; from compiler.cel import cel_syntax_error;"
             "cel_syntax_error('a > 1'); print('cel' in sys.modules, 'cel_expr_python' in sys.modules)")
    result = _run_python(probe, REPO)
    assert result.stdout.split() == ["False", "True"], result.stderr


# --- Jinja: a sandbox with limits (hole 13, 14) --------------------------------------------------------------------

def _prompt(template: str, **constants):
    variables = {name: SimpleNamespace(from_=None, value=value, column=None) for name, value in constants.items()}
    return SimpleNamespace(template=template, variables=variables)


RENDER_ATTACKS = {
    "repeat a string 4e9 times": "{{ text*4000000000 }}",
    "nested range(100000)": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "nested loops under the range cap": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "a width of a billion": "{{ text|center(1000000000) }}",
    "a format width of a billion": "{{ '{:>1000000000}'.format(text) }}",
    "a %-width of a billion": "{{ '%1000000000s' % text }}",
    "doubling through a namespace": ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                                     "{% endfor %}{{ ns.s }}"),
    "output past the cap": "{% for i in range(9000) %}{{ text * 200 }}{% endfor %}",
    "a macro calling itself": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "3000 nested parentheses": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "a 3000-step attribute chain": "{{ text" + ".x" * 3000 + " }}",
    "include": "{% include 'secrets.txt' %}",
    "import": "{% import 'macros.j2' as m %}",
    "extends": "{% extends 'base.j2' %}",
}


@pytest.mark.parametrize("name", list(RENDER_ATTACKS))
def test_jinja_render_stops_at_a_limit_with_a_clear_error(name):
    from compiler.prompt_render import TemplateLimitError, prompt_renderer

    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TemplateLimitError) as caught:
            prompt_renderer(_prompt(RENDER_ATTACKS[name], text="hello"))({})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 10
    assert peak < 64 * 1024 * 1024, f"{name}: {peak:,} bytes"
    assert str(caught.value) and "Traceback" not in str(caught.value)


def test_jinja_sandbox_still_renders_ordinary_prompts():
    from compiler.prompt_render import prompt_renderer

    template = ("Classify as {{ labels | join(', ') }}.{% for l in labels %} {{ loop.index }}={{ l|upper }}{% endfor %}\n"
                "{{ text ~ '!' }} {{ '%-5s|' % 'ab' }} {{ '{:>4}'.format(7) }} {{ (text * 2)|length }} {{ range(3)|list }}")
    out = prompt_renderer(_prompt(template, labels=["a", "b"], text="hi"))({})
    assert out == "Classify as a, b. 1=A 2=B\nhi! ab   | \u0020\u0020\u00207 4 [0, 1, 2]"


@pytest.mark.parametrize("template, code, line, words", [
    ("Intro\n{% include 'x.txt' %}\n", "E213", 7, "include"),
    ("Intro\n\n{% from 'm.j2' import f %}\n", "E213", 8, "from ... import"),
    ("{% extends 'base.j2' %}\n", "E213", 6, "extends"),
    ("Intro\n{{ " + "(" * 3000 + "text" + ")" * 3000 + " }}\n", "E214", 7, "nests"),
    ("{{ " + "not " * 3000 + "text }}\n", "E214", 6, "nests"),
    ("{{ text" + "|upper" * 500 + " }}\n", "E214", 6, "nested"),
    ("{% if text %}" * 200 + "x" + "{% endif %}" * 200 + "\n", "E214", 6, "nests"),
])
def test_jinja_refusals_are_located_at_validate(project, template, code, line, words):
    prompt = files()["prompt.yaml"].replace("Classify: {{ text }}", template.replace("\n", "\n" + " " * 12).rstrip())
    root = project(files(prompt_yaml=prompt))
    out = assert_clean(run_llmops("validate", ".", cwd=root))
    assert f"prompt.yaml:{line}:" in out and code in out and words in out, out[-2000:]


# --- PR comment injection (hole 12) ---------------------------------------------------------------------------------

def _lines_starting_a_command(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("::")]


def test_plan_markdown_escapes_every_spec_string():
    from compiler.plan import Change, Plan, Reason
    from compiler.render.plan import render_plan_markdown, render_plan_text

    change = Change(node=f"Model/{ATTACK}:finetune", action="update", step="finetune", resource="Model/x",
                    fingerprint="f" * 64, previous="e" * 64,
                    reasons=(Reason("spec", f"spec.labels: a -> {ATTACK}", "spec.labels", "a", ATTACK),))
    plan = Plan((change,), "a" * 64, "b" * 64)
    markdown = render_plan_markdown(plan)
    assert not _lines_starting_a_command(markdown)
    assert "<img" not in markdown and "**bold**" not in markdown and "[l](u)" not in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| ~"))
    assert row.replace("\\|", "").count("|") == 5, row  # the table keeps its four cells
    assert "&lt;img" in markdown and "\\`code\\`" in markdown
    text = render_plan_text(plan)
    assert not _lines_starting_a_command(text) and len(text.splitlines()) == 4


def test_policy_outputs_escape_a_hostile_policy_message(tmp_path):
    """A user Policy's message is spec text: plan's PR comment, the annotations and SARIF show it inert."""
    root = write_project(tmp_path / "p", files(policy_yaml=_policy("false", ATTACK)))
    markdown = run_llmops("plan", ".", "--format", "markdown", "--no-refresh", cwd=root).stdout
    assert "hostile" in markdown and not _lines_starting_a_command(markdown)
    assert "<img" not in markdown and "&lt;img" in markdown
    github = run_llmops("policy", "check", ".", "--format", "github", cwd=root).stdout
    commands = _lines_starting_a_command(github)
    assert commands and len(commands) == len(github.strip().splitlines())  # one line per annotation, no more
    assert all(line.startswith(("::error file=", "::warning file=")) for line in commands)
    assert "%0A::error file=evil.py" in github and "\n::error file=evil.py" not in github
    text = run_llmops("policy", "check", ".", cwd=root)
    assert not _lines_starting_a_command(text.stdout + text.stderr)
    sarif = json.loads(run_llmops("policy", "check", ".", "--format", "sarif", cwd=root).stdout)
    rule = next(r for r in sarif["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "hostile")
    assert "<img" not in rule["help"]["markdown"] and "\n::" not in rule["help"]["markdown"]


def test_diagnostics_in_every_format_keep_spec_strings_on_their_line(project):
    key = json.dumps(ATTACK)
    root = project(files(deploy_yaml=files()["deploy.yaml"] + f"  {key}: 1\n"))
    github = run_llmops("validate", ".", "--format", "github", cwd=root).stdout
    assert len(github.strip().splitlines()) == 1 and github.startswith("::error file=deploy.yaml,line=")
    text = run_llmops("validate", ".", cwd=root)
    assert not _lines_starting_a_command(text.stdout + text.stderr)


def test_the_escapes_themselves():
    from compiler.render.escape import md, md_code, one_line, workflow_data, workflow_property

    assert one_line("a\nb\r\nc\u2028d\x1b[31m") == "a\\nb\\nc\\nd\\x1b[31m"
    assert md("a|b <c> & `d` ::e") == "a\\|b &lt;c&gt; &amp; \\`d\\` :\\:e"
    assert md_code("Model/x") == "`Model/x`" and md_code("a`b") == "a\\`b" and md_code("a|b") == "`a\\|b`"
    assert workflow_data("50%\r\n") == "50%25%0D%0A"
    assert workflow_property("a:b,c") == "a%3Ab%2Cc"


# --- long lines and long messages (hole 13) -------------------------------------------------------------------------

def test_a_megabyte_line_prints_a_short_diagnostic(project):
    long_value = "v" * 1_500_000
    root = project(files(deploy_yaml=files()["deploy.yaml"] + f"  bogus: {long_value}\n"))
    result = run_llmops("validate", ".", cwd=root)
    out = assert_clean(result)
    assert len(out) < 20_000 and "…" in out and "unknown field" in out


def test_source_window_keeps_the_caret_under_the_column():
    from compiler.render.diagnostics import source_window

    line = "a" * 5000 + "X" + "b" * 5000
    shown, col = source_window(line, 5001)
    assert len(shown) < 200 and shown[col - 1] == "X"
    assert source_window("short", 3) == ("short", 3)


# --- internal errors become diagnostics (hole 14) -------------------------------------------------------------------

@pytest.mark.parametrize("written, said", [("123", "the number 123"), ("true", "a boolean"), ("~", "null")])
def test_a_name_that_is_not_a_string_is_located_at_the_name(project, written, said):
    model = files()["model.yaml"].replace("metadata: {name: clf}", f"metadata:\n          name: {written}")
    root = project(files(model_yaml=model))
    out = assert_clean(run_llmops("validate", ".", cwd=root))
    assert f"model.yaml:4:9: error[E022] metadata.name must be a string, not {said}" in out


@pytest.mark.parametrize("seed, said", [("9" * 5000, "a number of 5,000 digits"),
                                        ("18446744073709551617", "must be <= 4294967295")])
def test_a_seed_beyond_what_libraries_take_is_refused_by_validate_and_plan(project, seed, said):
    datasets = files()["datasets.yaml"].replace("seed: 1,", f"seed: {seed},")
    root = project(files(datasets_yaml=datasets))
    for command in ("validate", "plan"):
        out = assert_clean(run_llmops(command, ".", cwd=root))
        assert "datasets.yaml:9:41:" in out and said in out and len(out) < 10_000


@pytest.mark.parametrize("where, old, new", [
    ("gate.yaml", "min: 0.5}", "min: .nan}"),
    ("gate.yaml", "min: 0.5}", "min: -.inf}"),
    ("model.yaml", "training: {epochs: 1}", "training: {epochs: 1, learning_rate: .nan}"),
    ("model.yaml", "lora: {r: 4}", "lora: {r: 4, alpha: .inf}"),
    ("datasets.yaml", "train: 0.8", "train: .nan"),
])
def test_non_finite_numbers_are_refused(project, where, old, new):
    changed = files()[where].replace(old, new)
    assert changed != files()[where]
    root = project(files(**{where.replace(".yaml", "_yaml"): changed}))
    out = assert_clean(run_llmops("validate", ".", cwd=root))
    assert f"{where}:" in out and "must be a finite number" in out


def test_a_nul_byte_after_8_kb_is_located(project):
    padding = "# " + "x" * 9_000 + "\n"
    root = project(files(deploy_yaml=(files()["deploy.yaml"].lstrip("\n") + padding).encode() + b"# \0\n"))
    out = assert_clean(run_llmops("validate", ".", cwd=root))
    assert "deploy.yaml:8:3: error[E002] file is binary, not YAML (a NUL byte at line 8, column 3)" in out


def test_a_terminal_escape_in_a_spec_is_located_not_replayed(project):
    root = project(files(deploy_yaml=files()["deploy.yaml"].replace("name: prod,", "name: prod\x1b[2J,")))
    out = assert_clean(run_llmops("validate", ".", cwd=root))
    assert "E010" in out and "U+001B" in out and "\x1b" not in out


def test_call_with_a_deeply_nested_body_is_a_clear_message(tmp_path):
    out = assert_clean(run_llmops("call", "Deployment/x", "[" * 10_000, cwd=tmp_path))
    assert "BODY nests lists or objects too deeply" in out


UNSHARE = shutil.which("unshare")


def _unshare_works() -> bool:
    if UNSHARE is None:
        return False
    probe = subprocess.run([UNSHARE, "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -rm (a private mount namespace) to fill a real disk")
def test_a_full_disk_is_a_clear_message(tmp_path):
    """A real full file system: a 64 KiB tmpfs in a private mount namespace, filled, then written to."""
    disk = tmp_path / "disk"
    disk.mkdir()
    llmops = Path(sys.executable).with_name("llmops")
    script = (f"mount -t tmpfs -o size=64k tmpfs {disk} && (head -c 1000000 /dev/zero > {disk}/filler || true) && "
              f"exec {llmops} schema -o {disk}/schemas")
    result = subprocess.run([UNSHARE, "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    out = assert_clean(result)
    assert "No space left on device" in out and "hint: free some space" in out
    assert not (disk / "filler").exists()  # the tmpfs lived in the namespace only


HIDE_DVC = """
import importlib.abc, sys
class HideRunExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('dvc', 'dvc_data', 'ray', 'torch'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, HideRunExtra())
import importlib.util
_find = importlib.util.find_spec
def find_spec(name, package=None):
    if name.split('.')[0] in ('dvc', 'dvc_data', 'ray', 'torch'):
        return None
    return _find(name, package)
importlib.util.find_spec = find_spec
sys.argv = ['llmops', *ARGS]
from llmops_cli.main import main
main()
"""


@pytest.mark.parametrize("args", [["init", "."], ["apply", ".", "--yes"]])
def test_a_command_needing_the_run_extra_says_how_to_install_it(tmp_path, args):
    """The run extra hidden by a meta-path finder (not uninstalled): a clear message, not 'a bug in llmops'."""
    datasets = files()["datasets.yaml"].replace('labels: {pii: "true"}, ', "")
    root = write_project(tmp_path / "p", files(datasets_yaml=datasets))
    if args[0] != "init":
        (root / ".dvc").mkdir()  # as `llmops init` left it where the extra was installed
    out = assert_clean(_run_python(HIDE_DVC.replace("ARGS", repr(args)), root))
    assert "llmops-spec[run]" in out and "No module named" not in out
    assert not (root / "llmops.lock").exists() and (args[0] != "init" or not (root / ".dvc").exists())
    assert not (root / ".llmops" / "ray" / "cluster.json").exists(), "no Ray cluster was started for nothing"
