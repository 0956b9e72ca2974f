"""Issue 15, holes 5, 7 and 8, as attacks: a committed cache, policy bypasses, secrets copied out of their spec.

Each test performs the attack a pull request could (a poisoned cache file, a look-alike
letter, ``pii: "yes"``, a blank waiver owner, a Policy named like a built-in rule, a waived
token) and asserts the refusal: the exit code and the finding, and that nothing leaked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import marshal
import shutil
from pathlib import Path

import pytest

from compiler import compile_project
from compiler.cache_dir import cache_dir
from compiler.fingerprint import fingerprint_graph
from compiler.lockfile import LockEntry
from compiler.plan import explain
from compiler.policy.redaction import redaction
from llmops_spec import Ref
from tests.test_apply import prompts_repo  # noqa: F401  (fixture)
from tests.test_cli import run
from tests.test_policy_pack import OWNER, TODAY, clean_files, edit

SECRET = "hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2zC4"  # built here, so no scanner flags this file
OTHER_SECRET = "hf_" + "zZ3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2zC4"
GATELESS = ("deploy.yaml", "  requires: [EvalGate/quality]\n", "")
EXPIRES = "2027-01-31"


def waiver(name: str, policy: str, resources: str, owner: str = OWNER) -> str:
    return (f"apiVersion: llmops/v1\nkind: Waiver\nmetadata: {{name: {name}, owner: {OWNER}}}\nspec:\n"
            f"  policy: Policy/{policy}\n  resources: [{resources}]\n  reason: reviewed\n"
            f"  owner: {owner!r}\n  expires: {EXPIRES}\n")


def policy_check(capsys, root: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "policy", "check", str(root), "--today", TODAY.isoformat(), *extra)


def codes(capsys, root: Path) -> tuple[int, list[dict]]:
    """``policy check --format json``: the exit code, and every finding and validation diagnostic as dicts."""
    code, out, _ = policy_check(capsys, root, "--format", "json")
    body = json.loads(out)
    return code, body["findings"] + body["validation"]["diagnostics"]


# ------------------------------------------------------------------ hole 5: a committed cache is never read


def _poison(root: Path, gated: str, gateless: str) -> dict[str, bytes]:
    """Cache files that answer for the gateless deploy.yaml with what the gated one compiles to.

    Made as an attacker would: let llmops cache the gated project, then re-key every entry to
    the gateless file's content (the parse cache by its sha256, the plan and policy caches by
    the specs' digest and the keys the code computes).
    """
    from compiler.plan_cache import cache_key, data_state
    from compiler.policy.cached import _key, utc_today

    deploy = root / "deploy.yaml"
    deploy.write_text(gated)
    folder = cache_dir(root)
    shutil.rmtree(folder)
    assert run_plan(root)[0] == 0  # fills every cache of the gated project
    gated_digest = compile_project(root, use_cache=False).project.specs_digest
    deploy.write_text(gateless)
    digest = compile_project(root, use_cache=False).project.specs_digest
    old, new = (hashlib.sha256(text.encode()).hexdigest() for text in (gated, gateless))

    magic, parsed = marshal.loads((folder / "parsed.marshal").read_bytes())
    parsed[new] = parsed.pop(old)
    plan_magic, _, sources, payload = marshal.loads((folder / "plan.marshal").read_bytes())
    plan_key = cache_key(root, root.resolve(), digest, data_state(root.resolve(), sources))
    report = json.loads((folder / "policy-report.json").read_text())
    assert report["key"] == _key(gated_digest, utc_today())
    report["key"] = _key(digest, utc_today())
    poison = {"parsed.marshal": marshal.dumps((magic, parsed)),
              "plan.marshal": marshal.dumps((plan_magic, plan_key, sources, payload)),
              "policy-report.json": json.dumps(report).encode()}
    shutil.rmtree(folder)
    return poison


def run_plan(root: Path) -> tuple[int, str]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "llmops_cli.main", "plan", str(root)], capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout + done.stderr


def _settle(root: Path) -> None:
    import os
    import time

    when = time.time() - 60  # the plan cache trusts no data modified moments before it was read
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


def test_a_committed_cache_is_never_read(project, capsys):
    files = clean_files()
    root = project(files)
    _settle(root)
    gated = files["deploy.yaml"]
    poison = _poison(root, gated, gated.replace(*GATELESS[1:]))

    # Control: the poison is well made. Where llmops keeps its caches (a folder only this user can write),
    # it would answer for the gateless deployment: the parse cache says it is gated, the plan cache plans it.
    trusted = cache_dir(root)
    for name, data in poison.items():
        (trusted / name).write_bytes(data)
    assert policy_check(capsys, root)[0] == 0
    code, out = run_plan(root)
    assert code == 0 and "Policy: 0 errors" in out, out
    shutil.rmtree(trusted)

    # The attack: the same files committed in the pull request, in .llmops/cache of the checkout.
    committed = root / ".llmops" / "cache"
    committed.mkdir(parents=True)
    for name, data in poison.items():
        (committed / name).write_bytes(data)
    code, out, _ = policy_check(capsys, root)
    assert code == 1 and "error[P001] Deployment/prod violates prod-needs-gate" in out
    code, out = run_plan(root)
    assert "Policy: 1 error" in out and "prod-needs-gate  Deployment/prod" in out, out
    assert all((committed / name).read_bytes() == data for name, data in poison.items())  # read by no one, kept as is
    assert not any(cache_dir(root).glob("*.marshal.*"))


def test_a_committed_data_hash_cache_is_never_read(project):
    """``hashes.json`` maps a data file's stat signature to its md5: a forged one would hide a change of the data."""
    root = project(clean_files())
    data = (root / "data" / "t.jsonl").resolve()
    st = data.stat()
    forged = json.dumps({str(data): [st.st_size, st.st_mtime_ns, st.st_ino, "0" * 32]})

    def md5_seen() -> str | None:
        compilation = compile_project(root, use_cache=False)
        return fingerprint_graph(compilation.project, compilation.graph)["Dataset/tickets:prepare"].data["data/t.jsonl"]

    real = hashlib.md5(data.read_bytes()).hexdigest()
    (cache_dir(root) / "hashes.json").write_text(forged)  # control: llmops' own cache is believed
    assert md5_seen() == "0" * 32
    (cache_dir(root) / "hashes.json").unlink()
    (root / ".llmops" / "cache").mkdir(parents=True)
    (root / ".llmops" / "cache" / "hashes.json").write_text(forged)  # the attack: committed in the checkout
    assert md5_seen() == real


def test_the_cache_folder_is_private_and_outside_the_project(tmp_path, monkeypatch):
    import os
    import stat

    root = tmp_path / "repo"
    root.mkdir()
    folder = cache_dir(root)
    assert root not in folder.parents and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    # a cache folder pointed into the checkout is not used: the next candidate is
    monkeypatch.setenv("LLMOPS_CACHE_DIR", str(root / ".llmops" / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir(root) == (tmp_path / "xdg" / "llmops" / folder.name).resolve()
    assert not (root / ".llmops").exists()
    # one another user could write is not trusted either
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("LLMOPS_CACHE_DIR", str(shared))
    assert shared not in cache_dir(root).parents


# ------------------------------------------------------------------ hole 7: policy bypasses


@pytest.mark.parametrize("environment", ["Production", '"prod "', "PROD", "ｐｒｏｄ"])  # the last: full-width
def test_production_spelled_otherwise_still_needs_a_gate(project, capsys, environment):
    deploy = clean_files()["deploy.yaml"].replace("labels: {env: prod}", "labels: {}").replace(
        "  requires: [EvalGate/quality]\n", f"  environment: {environment}\n")
    code, found = codes(capsys, project(clean_files(deploy_yaml=deploy)))
    assert code == 1
    assert [(f["code"], f["policy"], f["line"]) for f in found if f["code"].startswith("P")] == [
        ("P001", "prod-needs-gate", 6)]


def test_a_prod_label_in_capitals_still_needs_a_gate(project, capsys):
    root = project(edit(*GATELESS, deploy_yaml=clean_files()["deploy.yaml"].replace("{env: prod}", '{env: " Prod"}')))
    code, found = codes(capsys, root)
    assert code == 1 and [f["code"] for f in found] == ["P001"]


@pytest.mark.parametrize("value, code, shown", [
    ("\u0440rod", "E250", "mixes Cyrillic and Latin letters"),     # a Cyrillic er
    ("pr\u03bfd", "E250", "mixes Greek and Latin letters"),        # a Greek omicron
    ('"prod\\u200b"', "E251", "invisible character (U+200B)"),    # a zero-width space
])
def test_a_look_alike_environment_is_refused_at_validate(project, capsys, value, code, shown):
    deploy = clean_files()["deploy.yaml"].replace("labels: {env: prod}", "labels: {}").replace(
        "  requires: [EvalGate/quality]\n", f"  environment: {value}\n")
    root = project(clean_files(deploy_yaml=deploy))
    status, out, _ = run(capsys, "validate", str(root))
    assert status == 1 and f"deploy.yaml:6:16: error[{code}] spec.environment" in out and shown in out, out
    assert policy_check(capsys, root)[0] == 1  # and policy check fails on the invalid specs


def test_a_look_alike_label_value_is_refused(project, capsys):
    root = project(edit(*GATELESS, deploy_yaml=clean_files()["deploy.yaml"].replace("{env: prod}", "{env: \u0440rod}")))
    status, out, _ = run(capsys, "validate", str(root))
    assert status == 1 and "deploy.yaml:3:63: error[E250] metadata.labels.env" in out, out


def test_other_scripts_and_east_asian_mixes_are_fine(project, capsys):
    labels = '{team: "サポートA", region: "Москва", site: "Zürich"}'
    root = project(clean_files(deploy_yaml=clean_files()["deploy.yaml"].replace("{env: prod}", labels)))
    assert run(capsys, "validate", str(root))[0] == 0


@pytest.mark.parametrize("value, meant", [("yes", "true"), ("on", "true"), ("1", "true"), ("no", "false"),
                                          ("maybe", None)])
def test_a_boolean_label_takes_true_or_false_only(project, capsys, value, meant):
    datasets = clean_files()["datasets.yaml"].replace('pii: "true"', f'pii: "{value}"').replace(
        "\n    - pii_redact: {columns: [text]}", "")  # unredacted: pii: "yes" must not slip past P002
    root = project(clean_files(datasets_yaml=datasets))
    status, out, _ = run(capsys, "validate", str(root))
    assert status == 1 and f"datasets.yaml:3:41: error[E252] label pii must be \"true\" or \"false\", not '{value}'" in out
    assert (f'hint: write pii: "{meant}"' if meant else 'hint: write pii: "true" or pii: "false"') in out
    assert policy_check(capsys, root)[0] == 1


def test_a_policys_own_boolean_label_takes_true_or_false_too(project, capsys):
    rule = ('apiVersion: llmops/v1\nkind: Policy\nmetadata: {name: internal-only, owner: a@example.com}\nspec:\n'
            '  match: {kinds: [Deployment], labels: {internal: "true"}}\n  rule: "false"\n  message: no\n')
    deploy = clean_files()["deploy.yaml"].replace("{env: prod}", '{env: prod, internal: "y"}')
    status, out, _ = run(capsys, "validate", str(project(clean_files(deploy_yaml=deploy, policy_yaml=rule))))
    assert status == 1 and "error[E252] label internal" in out


def test_true_in_capitals_is_true(project, capsys):
    datasets = clean_files()["datasets.yaml"].replace('pii: "true"', 'pii: "TRUE"').replace(
        "\n    - pii_redact: {columns: [text]}", "")
    code, found = codes(capsys, project(clean_files(datasets_yaml=datasets)))
    assert code == 1 and [f["code"] for f in found] == ["P002"]  # the model is pii, trained unredacted


@pytest.mark.parametrize("owner", [" ", "", "someone", "a @example.com"])
def test_a_waiver_needs_a_real_owner(project, capsys, owner):
    root = project(edit(*GATELESS, waiver_yaml=waiver("ship-it", "prod-needs-gate", "Deployment/prod", owner)))
    status, out, _ = run(capsys, "validate", str(root))
    assert status == 1 and "waiver.yaml:8:10: error[E104] spec.owner" in out, out
    code, found = codes(capsys, root)
    assert code == 1 and any(f["code"] == "P001" and f["waived_by"] is None for f in found if "policy" in f)


@pytest.mark.parametrize("owner", ["lead@example.com", "@alice", "@org/security-team"])
def test_an_email_or_a_handle_owns_a_waiver(project, capsys, owner):
    root = project(edit(*GATELESS, waiver_yaml=waiver("ship-it", "prod-needs-gate", "Deployment/prod", owner)))
    code, found = codes(capsys, root)
    assert code == 0 and [(f["code"], f["waived_by"]) for f in found] == [("P001", "ship-it")]


OFF = ("apiVersion: llmops/v1\nkind: Policy\nmetadata: {name: prod-needs-gate, owner: a@example.com}\nspec:\n"
       "  match: {}\n  rule: \"true\"\n  message: off\n")


def test_replacing_a_built_in_error_rule_fails_without_its_own_waiver(project, capsys):
    root = project(edit(*GATELESS, off_yaml=OFF))
    code, out, _ = policy_check(capsys, root)
    assert code == 1 and "off.yaml:3:18: error[P008] Policy/prod-needs-gate replaces the built-in rule prod-needs-gate" in out
    code, found = codes(capsys, root)
    assert code == 1 and [(f["policy"], f["resource"], f["severity"]) for f in found] == [
        ("builtin-replaced", "Policy/prod-needs-gate", "error")]
    sarif = json.loads(policy_check(capsys, root, "--format", "sarif")[1])["runs"][0]
    assert [r["ruleId"] for r in sarif["results"]] == ["builtin-replaced"] and "suppressions" not in sarif["results"][0]
    assert "builtin-replaced" in [rule["id"] for rule in sarif["tool"]["driver"]["rules"]]
    status, out, _ = run(capsys, "plan", str(root), "--format", "markdown")
    assert "| error | `builtin-replaced` | `Policy/prod-needs-gate` |" in out


def test_a_waived_replacement_passes_and_stays_visible(project, capsys):
    root = project(edit(*GATELESS, off_yaml=OFF,
                        waiver_yaml=waiver("gate-off", "builtin-replaced", "Policy/prod-needs-gate")))
    code, out, _ = policy_check(capsys, root)
    assert code == 0 and "waived   builtin-replaced  Policy/prod-needs-gate  by gate-off" in out
    code, found = codes(capsys, root)
    assert [(f["policy"], f["waived_by"]) for f in found] == [("builtin-replaced", "gate-off")]
    sarif = json.loads(policy_check(capsys, root, "--format", "sarif")[1])["runs"][0]
    assert sarif["results"][0]["suppressions"][0]["status"] == "accepted"
    status, out, _ = run(capsys, "plan", str(root), "--format", "markdown")
    assert "| waived | `builtin-replaced` | `Policy/prod-needs-gate` |" in out


def test_a_policy_named_builtin_replaced_is_a_replacement_too(project, capsys):
    code, found = codes(capsys, project(clean_files(off_yaml=OFF.replace("prod-needs-gate", "builtin-replaced"))))
    assert code == 1 and [(f["policy"], f["resource"]) for f in found] == [("builtin-replaced", "Policy/builtin-replaced")]


# ------------------------------------------------------------------ hole 8: a waived secret stays in its spec


def _with_secret(project, secret: str) -> Path:
    return project(edit("deploy.yaml", "  requires:", f"  env_vars: {{HF_TOKEN: {secret}}}\n  requires:",
                        waiver_yaml=waiver("known-token", "no-secrets-in-specs", "Deployment/prod")))


def test_a_waived_secret_is_not_in_the_fingerprint_nor_the_plan(project, tmp_path, capsys):
    root = _with_secret(project, SECRET)
    code, found = codes(capsys, root)
    assert code == 0 and [(f["code"], f["waived_by"]) for f in found] == [("P005", "known-token")]  # waived
    compilation = compile_project(root, use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    deploy = prints["Deployment/prod:deploy"]
    assert deploy.spec["env_vars"] == {"HF_TOKEN": redaction(SECRET)}  # what the lock records as the node's spec
    assert SECRET not in json.dumps([p.spec for p in prints.values()])
    for fmt in ("text", "json", "markdown"):
        assert SECRET not in run(capsys, "plan", str(root), "--format", fmt, "-o", str(tmp_path / "plan.json"))[1]
    assert SECRET not in (tmp_path / "plan.json").read_text()

    other = _with_secret(project, OTHER_SECRET)  # another secret: another fingerprint
    again = compile_project(other, use_cache=False)
    assert fingerprint_graph(again.project, again.graph)["Deployment/prod:deploy"].value != deploy.value


def test_a_lock_holding_a_secret_is_shown_redacted(project):
    """A lock written before redaction holds the secret as written: the plan's reasons must not repeat it."""
    root = _with_secret(project, OTHER_SECRET)
    compilation = compile_project(root, use_cache=False)
    fp = fingerprint_graph(compilation.project, compilation.graph)["Deployment/prod:deploy"]
    old = LockEntry("0" * 32, "deploy", "Deployment/prod", fp.code, {**fp.spec, "env_vars": {"HF_TOKEN": SECRET}},
                    fp.inputs, fp.data)
    (reason,) = explain(fp, old, {})
    shown = json.dumps(reason.to_dict())
    assert reason.path == "spec.env_vars.HF_TOKEN" and SECRET not in shown and OTHER_SECRET not in shown
    assert reason.old == redaction(SECRET) and reason.new == redaction(OTHER_SECRET)


def test_the_prompt_artifact_holds_no_secret(project, tmp_path):
    from runners.step import StepContext
    from runners.steps.prompt import run as run_prompt

    prompt = clean_files()["prompt.yaml"].replace("Classify: {{ text }}", f"Key {SECRET}. Classify: {{{{ text }}}}")
    root = project(clean_files(prompt_yaml=prompt, waiver_yaml=waiver("k", "no-secrets-in-specs", "Prompt/classify")))
    compilation = compile_project(root, use_cache=False)
    spec = compilation.project.resources[next(r for r in compilation.project.resources if r.kind == "Prompt")].spec
    assert SECRET in spec.template  # the spec holds it, as written
    out = tmp_path / "out"
    out.mkdir()
    run_prompt(StepContext(root=root, node="Prompt/classify:prompt", step="prompt", resource="Prompt/classify",
                           spec=spec, out=out))
    written = json.loads((out / "prompt.json").read_text())
    # the secret alone is cut out: the template still renders, as serving will render it
    assert written["template"] == f"Key {redaction(SECRET)}. Classify: {{{{ text }}}}\n"


def test_a_step_reads_another_resources_spec_redacted(project, tmp_path):
    """What finetune and evaluate render (and write into predictions and manifests) is the prompt as served."""
    from compiler.lockfile import Lock
    from runners.dvc_store import Store
    from runners.node_context import node_context

    prompt = clean_files()["prompt.yaml"].replace("Classify: {{ text }}", f"Key {SECRET}. Classify: {{{{ text }}}}")
    root = project(clean_files(prompt_yaml=prompt, waiver_yaml=waiver("k", "no-secrets-in-specs", "Prompt/classify")))
    compilation = compile_project(root, use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    node = compilation.graph.nodes["Model/clf:finetune"]
    ctx = node_context(compilation.project, Store(root), node, tmp_path, prints, Lock(), 1)
    assert ctx.specs["Prompt/classify"].template == f"Key {redaction(SECRET)}. Classify: {{{{ text }}}}\n"
    # a spec without a secret is handed over as it is
    assert ctx.specs["Dataset/tickets@train"] is compilation.project.resources[Ref("Dataset", "tickets")].spec


def test_the_audit_shows_a_changed_secret_redacted():
    from compiler.audit.semantic_diff import field_changes

    old = {"metadata": {"name": "prod"}, "spec": {"env_vars": {"HF_TOKEN": SECRET}, "route": "/a"}}
    new = {"metadata": {"name": "prod"}, "spec": {"env_vars": {"HF_TOKEN": OTHER_SECRET}, "route": "/b"}}
    changes = [c.to_dict() for c in field_changes(old, new)]
    assert changes == [{"path": "spec.env_vars.HF_TOKEN", "old": redaction(SECRET), "new": redaction(OTHER_SECRET)},
                       {"path": "spec.route", "old": "/a", "new": "/b"}]


@pytest.mark.slow
def test_an_applied_waived_secret_reaches_no_lock_log_artifact_or_remote(prompts_repo, ray_cluster, tmp_path):
    """The attack end to end: apply a Prompt whose template holds a waived token; only its spec file holds it."""
    from tests.conftest import write_project
    from tests.test_apply import apply, lock_of

    specs = prompts_repo / "specs"
    write_project(specs, {
        "p0.yaml": f"""
            apiVersion: llmops/v1
            kind: Prompt
            metadata: {{name: p0}}
            spec:
              template: "Hello {{{{ who }}}}, the key is {SECRET}"
              variables:
                who: {{value: world}}
            """,
        "waiver.yaml": waiver("known-token", "no-secrets-in-specs", "Prompt/p0")})
    done = apply(prompts_repo, ray_cluster, "specs", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert lock_of(prompts_repo)["Prompt/p0:prompt"]["spec"]["template"] == f"Hello {{{{ who }}}}, the key is {redaction(SECRET)}"
    holding = [path for folder in (prompts_repo, tmp_path / "remote") for path in folder.rglob("*")
               if path.is_file() and ".git" not in path.relative_to(folder).parts and SECRET.encode() in path.read_bytes()]
    assert holding == [specs / "p0.yaml"]
