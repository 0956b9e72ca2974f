"""``llmops audit`` end to end on real repositories, the report, and byte-identical plans on two clones."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from compiler.audit.applylog import APPLY_LOG_NAME
from compiler.cache_dir import cache_dir
from tests.conftest import run_llmops
from tests.test_cli import run
from tests.projects import BASE
from tests.test_audit_history import History
from tests.test_audit_lineage import applied  # noqa: F401  (fixture)


def test_verify_passes_then_fails_with_the_place_and_exit_1(capsys, applied):
    h, _ = applied
    code, out, _ = run(capsys, "audit", "verify", str(h.specs))
    assert code == 0 and "2 records, chain intact" in out and "2 committed versions" in out
    log = h.specs / APPLY_LOG_NAME
    log.write_bytes(log.read_bytes().replace(b'"passed":true', b'"passed":false', 1))
    code, out, _ = run(capsys, "audit", "verify", str(h.specs))
    assert code == 1 and "TAMPERED (edited) at line 1" in out and "hint:" in out
    code, out, _ = run(capsys, "audit", "verify", str(h.specs), "--format", "json")
    assert code == 1 and json.loads(out)["problem"]["how"] == "edited"


def test_verify_catches_a_cut_tail_through_git(capsys, applied):
    h, _ = applied
    log = h.specs / APPLY_LOG_NAME
    log.write_bytes(log.read_bytes().splitlines(keepends=True)[0])
    code, out, _ = run(capsys, "audit", "verify", str(h.specs))
    assert code == 1 and "TAMPERED (truncated)" in out and "holds 2 records; the log now holds 1" in out


def test_log_text_and_json(capsys, applied):
    h, shas = applied
    code, out, _ = run(capsys, "audit", "log", str(h.specs), "--no-policy")
    assert code == 0
    assert "~ Model/clf  model.yaml\n      spec.finetune.training.epochs: 1.0 -> 3.0" in out
    assert "renamed gate.yaml -> gates/quality.yaml (no resource changed)" in out
    assert "applied 2026-01-02T10:00:00Z by ci <ci@example.com>: applied (record 1); gates: EvalGate/quality passed" in out
    assert "Record apply" not in out  # commits of the lock and the log alone are bookkeeping
    code, out, _ = run(capsys, "audit", "log", str(h.specs), "--kind", "Model", "--format", "json")
    entries = json.loads(out)
    assert [e["commit"] for e in entries] == [shas["merge"], shas["epochs"], shas["add"]]
    assert entries[1]["changes"][0]["fields"] == [{"path": "spec.finetune.training.epochs", "old": 1.0, "new": 3.0}]
    assert entries[2]["applies"][0]["seq"] == 1 and entries[0]["applies"][0]["seq"] == 2
    policy = entries[0]["policy"]  # the merge, judged on Jan 13: the user policy waived, the pack's P002 stands
    assert (policy["status"], policy["summary"]) == ("violations", "1 violation (6 findings)")
    assert {(f["code"], f["waived_by"]) for f in policy["report"]["findings"] if f["code"] != "P007"} == \
           {("P100", "tickets-later"), ("P002", None)}


def test_lineage_command(capsys, applied):
    h, shas = applied
    code, out, _ = run(capsys, "audit", "lineage", "Deployment/prod", str(h.specs), "--at", "2026-01-05")
    assert code == 0 and "output model: md5-model-v1" in out and "finetune.training.seed: 42" in out
    assert f"introduced by {shas['add'][:12]}" in out and "waiver Waiver/tickets-later" in out
    code, out, _ = run(capsys, "audit", "lineage", "prod", str(h.specs), "--format", "json")
    assert code == 0 and json.loads(out)["commit"] == shas["merge"]
    code, out, err = run(capsys, "audit", "lineage", "prod", str(h.specs), "--at", "someday")
    assert code == 1 and "neither a time" in err and "Traceback" not in err
    code, out, _ = run(capsys, "audit", "lineage", "prod", str(h.specs), "--at", "2025-06-01")
    assert code == 1 and "nothing from Deployment/prod was serving" in out


def test_report_is_self_contained_markdown_and_html(capsys, applied, tmp_path):
    h, _ = applied
    code, out, _ = run(capsys, "audit", "report", str(h.specs), "-o", str(tmp_path / "rep"))
    assert code == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    page = (tmp_path / "rep" / "report.html").read_text()
    for text in (md, page):
        assert "chain intact" in text and "Deployment/prod" in text and "Waiver/tickets-later" in text
        assert "Train for 3 epochs" in text and "apply #2 by ci" in text
    assert "data:image/svg+xml;base64," in md and md.count("![EvalGate/quality") == 1
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert "accuracy min 0.5" in svg and svg.count("<polyline") == 2  # accuracy and its language slice
    assert not re.search(r"""(src|href)=["']https?:""", page)  # nothing fetched from elsewhere


def test_not_a_repository_is_a_clear_message(capsys, tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\n")
    code, _, err = run(capsys, "audit", "log", str(tmp_path))
    assert code == 1 and "is not inside a git repository" in err and "hint:" in err


def test_a_repository_with_no_commit_has_an_empty_history(capsys, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "specs").mkdir()
    code, out, _ = run(capsys, "audit", "log", str(tmp_path / "specs"), "--no-policy")
    assert code == 0 and out.strip() == "0 commits"


def test_a_warm_log_prints_what_the_cold_one_did(capsys, applied):
    h, _ = applied
    cold = [run(capsys, "audit", "log", str(h.specs), *extra)[1] for extra in (["--no-policy"], ["--no-policy", "--kind", "Model"])]
    assert (cache_dir(h.specs) / "audit-commits-specs.marshal").exists()
    warm = [run(capsys, "audit", "log", str(h.specs), *extra)[1] for extra in (["--no-policy"], ["--no-policy", "--kind", "Model"])]
    assert warm == cold and "epochs: 1.0 -> 3.0" in warm[1]


def test_plan_json_is_byte_identical_on_two_clones(tmp_path):
    h = History(tmp_path / "origin")
    h.write({**BASE})
    h.commit("specs", "2026-01-01T10:00:00Z")
    plans = []
    # another machine, as far as one can tell: other paths, mtimes, time zone, locale, hash seed and home
    machines = {"one": {"TZ": "UTC", "LANG": "C", "LC_ALL": "C", "PYTHONHASHSEED": "1", "HOME": str(tmp_path / "h1")},
                "two": {"TZ": "Asia/Kolkata", "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8", "PYTHONHASHSEED": "4242",
                        "HOME": str(tmp_path / "h2")}}
    for name, env in machines.items():
        clone = tmp_path / name / "deep" / "clone"
        subprocess.run(["git", "clone", "-q", str(h.top), str(clone)], check=True, capture_output=True)
        (clone / "specs" / "data" / "t.jsonl").touch()  # other mtimes than the origin's
        done = run_llmops("plan", "specs", "--format", "json", "--no-refresh", cwd=clone, env=env)
        assert done.returncode == 0, done.stderr
        plans.append(done.stdout.encode())
    assert plans[0] == plans[1] and b"tmp" not in plans[0]
    assert json.loads(plans[0])["summary"]["create"] > 0


def test_verify_outside_git_checks_the_chain_alone(capsys, tmp_path):
    from runners.apply_log import append_record
    from tests.test_audit_chain import record

    for i in (1, 2):
        append_record(tmp_path, record(i))
    code, out, _ = run(capsys, "audit", "verify", str(tmp_path))
    assert code == 0 and "2 records, chain intact" in out and "0 committed versions" in out
    log = tmp_path / APPLY_LOG_NAME
    log.write_bytes(log.read_bytes().splitlines(keepends=True)[1])
    code, out, _ = run(capsys, "audit", "verify", str(tmp_path))
    assert code == 1 and "TAMPERED (deleted)" in out
