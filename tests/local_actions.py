"""Run this repository's GitHub workflows locally, step by step, from their YAML.

Tests of the CI must exercise the workflow files themselves, not a copy of their commands
that drifts. This runner executes a job's shell steps and the steps of the local llmops
composite action the way the Actions runner does: `${{ }}` expressions in `env`, `with`
and `if`, step outputs and outcomes, GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH /
GITHUB_STEP_SUMMARY, `bash -eo pipefail`. Steps of remote actions (checkout, upload-sarif,
github-script...) need GitHub and are not run: they are recorded with their inputs
evaluated, so a test can check they point at files the earlier steps produced.

It knows the subset of the language the workflows use and refuses the rest (an unknown
step key, shell or function raises), so a workflow that outgrows it fails its test
instead of being half-run.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

LOCAL_ACTION = "./.github/actions/llmops"
STEP_KEYS = {"name", "id", "if", "uses", "with", "env", "run", "shell", "working-directory"}
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)"
                    r"|(?P<op>==|!=|&&|\|\||[!(),])|(?P<name>[A-Za-z_][A-Za-z0-9_.-]*))")
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)


def load_yaml(path: Path) -> dict[str, Any]:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _to_python(expression: str) -> str:
    """A GitHub expression as Python source over `_c(path)` (contexts) and `_f[name]` (functions)."""
    out, pos, tokens = [], 0, []
    while pos < len(expression.rstrip()):
        match = _TOKEN.match(expression, pos)
        if not match or match.end() == pos:
            raise ValueError(f"unsupported expression syntax at {expression[pos:]!r}")
        tokens.append((match.lastgroup, match[match.lastgroup]))
        pos = match.end()
    for i, (kind, text) in enumerate(tokens):
        if kind == "str":
            out.append(repr(text[1:-1].replace("''", "'")))
        elif kind == "op":
            out.append({"&&": " and ", "||": " or ", "!": " not "}.get(text, text))
        elif kind == "num":
            out.append(text)
        elif i + 1 < len(tokens) and tokens[i + 1] == ("op", "("):
            out.append(f"_f[{text!r}]")
        else:
            out.append({"true": "True", "false": "False", "null": "None"}.get(text, f"_c({text!r})"))
    return "".join(out)


def _text(value: Any) -> str:
    """An expression's value as it lands in a string: booleans lowercase, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class StepRun:
    """What one step did: outcome success | failure | skipped; remote steps are never run (`ran` False)."""

    name: str
    id: str | None
    uses: str | None
    outcome: str
    ran: bool = False
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)   # `with:`, evaluated
    env: dict[str, str] = field(default_factory=dict)      # the step's own `env:`, evaluated
    inner: list[StepRun] = field(default_factory=list)     # a composite action's steps


class LocalRunner:
    """Runs one job of a workflow in ``workspace`` (a checkout of the repository under test)."""

    def __init__(self, workspace: Path, github: dict[str, Any], variables: dict[str, str] | None = None,
                 base_env: dict[str, str] | None = None, action_inputs: dict[str, str] | None = None,
                 temp: Path | None = None):
        self.workspace = workspace
        self.github = github
        self.variables = variables or {}
        self.action_inputs = action_inputs or {}   # forced on every call of the local action (install: 'false')
        self.temp = temp or workspace.parent / f"{workspace.name}-runner-temp"  # RUNNER_TEMP: outside the checkout
        self.temp.mkdir(parents=True, exist_ok=True)
        self.summary = self.temp / "step_summary.md"
        self.summary.touch()
        self.env = {**os.environ, **(base_env or {}), "CI": "true", "GITHUB_WORKSPACE": str(workspace),
                    "RUNNER_TEMP": str(self.temp), "RUNNER_OS": "Linux", "GITHUB_STEP_SUMMARY": str(self.summary)}

    # expressions ---------------------------------------------------------------------------
    def evaluate(self, expression: str, ctx: dict[str, Any], failed: bool) -> Any:
        expression = expression.strip()
        inner = _EXPR.fullmatch(expression)
        source = _to_python(inner[1] if inner else expression)

        def lookup(path: str) -> Any:
            value: Any = ctx
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return value

        functions = {"always": lambda: True, "cancelled": lambda: False, "success": lambda: not failed,
                     "failure": lambda: failed, "hashFiles": self._hash_files}
        return eval(source, {"__builtins__": {}}, {"_c": lookup, "_f": functions})  # noqa: S307 - test-only, our own YAML

    def interpolate(self, text: Any, ctx: dict[str, Any]) -> str:
        return _EXPR.sub(lambda m: _text(self.evaluate(m[1], ctx, False)), str(text))

    def _hash_files(self, *patterns: str) -> str:
        files = sorted({p for pattern in patterns for p in self.workspace.glob(pattern) if p.is_file()})
        return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest() if files else ""

    def _context(self, env: dict[str, str], steps: dict[str, Any], inputs: dict[str, str] | None = None) -> dict[str, Any]:
        ctx = {"github": self.github, "env": env, "vars": self.variables, "steps": steps, "secrets": {},
               "runner": {"os": "Linux", "temp": str(self.temp)}}
        if inputs is not None:
            ctx["inputs"] = inputs
        return ctx

    # running -------------------------------------------------------------------------------
    def run_job(self, workflow: dict[str, Any], job: str) -> list[StepRun]:
        spec = workflow["jobs"][job]
        ctx = self._context({}, {})
        if "if" in spec and not self.evaluate(str(spec["if"]), ctx, False):
            return []
        env = {k: self.interpolate(v, ctx) for k, v in (workflow.get("env") or {}).items()}
        env.update({k: self.interpolate(v, self._context(env, {})) for k, v in (spec.get("env") or {}).items()})
        shell = ((spec.get("defaults") or workflow.get("defaults") or {}).get("run") or {}).get("shell", "bash")
        return self._run_steps(spec["steps"], env, shell, inputs=None)

    def _run_steps(self, steps: list[dict[str, Any]], env: dict[str, str], shell: str,
                   inputs: dict[str, str] | None) -> list[StepRun]:
        results: list[StepRun] = []
        known: dict[str, Any] = {}
        failed = False
        for step in steps:
            unknown = set(step) - STEP_KEYS
            if unknown:
                raise NotImplementedError(f"the local runner does not support step keys {sorted(unknown)}")
            ctx = self._context(env, known, inputs)
            name = self.interpolate(step.get("name") or step.get("uses") or step.get("run", "").split("\n")[0], ctx)
            step_env = {**env, **{k: self.interpolate(v, self._context(env, known, inputs))
                                  for k, v in (step.get("env") or {}).items()}}
            ctx = self._context(step_env, known, inputs)
            own_env = {k: step_env[k] for k in step.get("env") or {}}
            run = StepRun(name, step.get("id"), step.get("uses"), "skipped", env=own_env,
                          inputs={k: self.interpolate(v, ctx) for k, v in (step.get("with") or {}).items()})
            if self.evaluate(str(step.get("if", "success()")), ctx, failed):
                if "run" in step:
                    self._shell(step, step_env, shell, run, inputs, ctx)
                elif step["uses"] == LOCAL_ACTION:
                    self._composite(run, step_env)
                else:
                    run.outcome = "success"   # a remote action: recorded, not run
                failed = failed or run.outcome == "failure"
            results.append(run)
            if run.id:
                known[run.id] = {"outputs": run.outputs, "outcome": run.outcome, "conclusion": run.outcome}
        return results

    def _shell(self, step: dict[str, Any], env: dict[str, str], shell: str, run: StepRun,
               inputs: dict[str, str] | None, ctx: dict[str, Any]) -> None:
        if step.get("shell", shell) != "bash":
            raise NotImplementedError(f"only bash steps run locally, not {step.get('shell')!r}")
        files = {name: self.temp / f"{name.lower()}-{id(run)}" for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for path in files.values():
            path.write_text("")
        script = self.temp / f"step-{id(run)}.sh"
        script.write_text(self.interpolate(step["run"], ctx))
        cwd = self.workspace / self.interpolate(step.get("working-directory", "."), ctx)
        full_env = {**self.env, **env, **{k: str(v) for k, v in files.items()}}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=600)
        run.ran, run.exit_code, run.stdout, run.stderr = True, done.returncode, done.stdout, done.stderr
        run.outcome = "success" if done.returncode == 0 else "failure"
        run.outputs = _key_values(files["GITHUB_OUTPUT"].read_text())
        self.env.update(_key_values(files["GITHUB_ENV"].read_text()))  # for every later step of the job
        added = [line for line in files["GITHUB_PATH"].read_text().splitlines() if line.strip()]
        if added:
            self.env["PATH"] = os.pathsep.join([*reversed(added), self.env["PATH"]])

    def _composite(self, run: StepRun, env: dict[str, str]) -> None:
        action = load_yaml(self.workspace / LOCAL_ACTION / "action.yml")
        declared = action.get("inputs") or {}
        unknown = set(run.inputs) - set(declared)
        if unknown:
            raise ValueError(f"{LOCAL_ACTION} has no inputs {sorted(unknown)}")
        missing = [k for k, v in declared.items() if v.get("required") and k not in run.inputs]
        if missing:
            raise ValueError(f"{LOCAL_ACTION} needs inputs {missing}")
        inputs = {k: str(v.get("default", "")) for k, v in declared.items()} | run.inputs | self.action_inputs
        saved = self.env.get("GITHUB_ACTION_PATH")
        self.env["GITHUB_ACTION_PATH"] = str(self.workspace / LOCAL_ACTION)
        run.inner = self._run_steps(action["runs"]["steps"], env, "bash", inputs)
        self.env.pop("GITHUB_ACTION_PATH") if saved is None else self.env.update(GITHUB_ACTION_PATH=saved)
        inner = {s.id: {"outputs": s.outputs, "outcome": s.outcome} for s in run.inner if s.id}
        ctx = self._context(env, inner, inputs)
        run.outputs = {k: self.interpolate(v["value"], ctx) for k, v in (action.get("outputs") or {}).items()}
        run.ran = True
        run.outcome = "failure" if any(s.outcome == "failure" for s in run.inner) else "success"
        main = next((s for s in run.inner if s.id == "run"), None)
        if main is not None:
            run.exit_code, run.stdout, run.stderr = main.exit_code, main.stdout, main.stderr


def _key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIMITER` blocks."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            out[key] = "\n".join(block)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


def path_filter_matches(patterns: list[str], path: str) -> bool:
    """GitHub's `paths:` filter for one changed file: the last pattern that matches decides (`!` excludes)."""
    included = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                        for part in re.split(r"(\*\*|\*)", body))
        if re.fullmatch(regex, path):
            included = not negated
    return included
