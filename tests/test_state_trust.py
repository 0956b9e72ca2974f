"""The pure deciders behind issue 15's state checks: vouching, signatures, lock shapes, plan freshness, state diffs.

The attacks that drive them end to end are in tests/test_security_state.py.
"""

from __future__ import annotations

import hashlib

import orjson
import pytest

from compiler.audit.applylog import APPLY_LOG_NAME, all_records, chain_record, read_log_bytes
from compiler.audit.chain import verify_chain
from compiler.lockfile import Lock, LockEntry, entry_problems, locate, parse_lock
from compiler.plan_freshness import check_fresh, moved_inputs
from compiler.policy.state_diff import LOCK_RULE, LOG_RULE, lock_changes, log_changes
from compiler.state_trust import unvouched_entries
from runners.apply_log import ApplyLogBroken, LogWriter, append_record
from runners.verified_read import listed_md5, object_matches
from tests.state_helpers import KEY, entry, landing

# ----------------------------------------------------------------------------- pure checks
def test_an_entry_is_vouched_for_only_by_the_latest_record_that_landed_it():
    good = entry()
    flipped = entry(metrics={"passed": True, "n": 3})
    log = [landing({"EvalGate/quality:gate": good})]
    assert unvouched_entries(Lock({"EvalGate/quality:gate": good}), log) == []
    [found] = unvouched_entries(Lock({"EvalGate/quality:gate": flipped}), log)
    assert found.path == ("EvalGate/quality:gate", "metrics", "passed") and "metrics.passed differs" in found.reason
    [missing] = unvouched_entries(Lock({"Model/m:finetune": good}), log)
    assert "no apply log record names it" in missing.reason
    newer = entry("f2")  # killed between the landing record and the lock write: the old entry is still vouched for
    log.append(landing({"EvalGate/quality:gate": newer}, {"EvalGate/quality:gate": good}))
    assert unvouched_entries(Lock({"EvalGate/quality:gate": good}), log) == []
    assert unvouched_entries(Lock({"EvalGate/quality:gate": newer}), log) == []
    log.append(landing({"EvalGate/quality:gate": None}, {"EvalGate/quality:gate": newer}))
    log.append({"kind": "apply", "nodes": {"EvalGate/quality:gate": {"fingerprint": None, "status": "deleted"}}})
    [gone] = unvouched_entries(Lock({"EvalGate/quality:gate": newer}), log)
    assert "says it is not applied" in gone.reason


def test_an_old_log_without_entry_digests_vouches_by_fingerprint_outputs_and_metrics():
    old = {"nodes": {"Model/m:finetune": {"fingerprint": "f", "status": "applied", "outputs": {"a": "x.dir"},
                                          "metrics": {"loss": 0.5}},
                     "Model/n:finetune": {"fingerprint": "g", "status": "failed", "outputs": {}, "metrics": {}}}}
    ok = LockEntry("f", "finetune", "Model/m", outputs={"a": "x.dir", "serve": {"app": "x"}}, metrics={"loss": 0.5})
    assert unvouched_entries(Lock({"Model/m:finetune": ok}), [old]) == []
    edited = LockEntry("f", "finetune", "Model/m", outputs={"a": "y.dir"}, metrics={"loss": 0.5})
    [found] = unvouched_entries(Lock({"Model/m:finetune": edited}), [old])
    assert found.path == ("Model/m:finetune", "outputs", "a")
    [failed] = unvouched_entries(Lock({"Model/n:finetune": LockEntry("g", "finetune", "Model/n")}), [old])
    assert "no apply log record names it" in failed.reason, "a record of a failure lands nothing"


def test_a_signed_log_refuses_an_unsigned_or_wrongly_signed_tail(tmp_path):
    for i in range(2):
        append_record(tmp_path, landing({f"Prompt/p{i}:prompt": entry(f"f{i}")}), key=KEY.encode())
    raw = read_log_bytes(tmp_path)
    assert verify_chain(raw, KEY.encode()).ok and verify_chain(raw).ok
    assert all(r["sig"].startswith("hmac-sha256:") for r in all_records(raw))
    last = all_records(raw)[-1]
    body = {k: v for k, v in orjson.loads(raw.splitlines()[-1]).items() if k not in ("log_version", "seq", "prev", "hash", "sig")}
    for forged in (chain_record(body, 3, last["hash"]), chain_record(body, 3, last["hash"], b"a guessed key")):
        report = verify_chain(raw + forged, KEY.encode())
        assert not report.ok and report.problem.seq == 3 and report.problem.line == 3
        assert report.problem.how in ("unsigned", "forged") and "LLMOPS_LOG_KEY" in report.problem.detail
        assert verify_chain(raw + forged).ok, "without the key a well re-hashed tail cannot be told apart"
        (tmp_path / APPLY_LOG_NAME).write_bytes(raw + forged)
        with pytest.raises(ApplyLogBroken, match="record 3"):
            LogWriter(tmp_path, KEY.encode())


def test_the_key_is_never_written(tmp_path):
    append_record(tmp_path, landing({"Prompt/p:prompt": entry()}), key=KEY.encode())
    assert KEY.encode() not in read_log_bytes(tmp_path)


@pytest.mark.parametrize("raw, where, says", [
    (b'{"lock_version": 1, "nodes": []}', (1, 21), "nodes is an array"),
    (b'{"lock_version": 1}', (1, 1), "nodes is missing"),
    (b'{\n  "lock_version": 1,\n  "nodes": {\n    "Model/m:finetune": {\n      "fingerprint": 7,\n'
     b'      "step": "finetune", "resource": "Model/m"}}}', (5, 7), "fingerprint must be a non-empty string, not number"),
    (b'{"lock_version": 1, "nodes": {"A/b:prepare": {"fingerprint": "f", "step": "prepare", "resource": "A/b",\n'
     b' "inputs": {"x": 1}}}}', (2, 2), "inputs['x'] must be a string, not number"),
    (b'{"lock_version": 1, "nodes": {"A/b:prepare": "nope"}}', (1, 31), "must be an object, not a string"),
    (b'{"lock_version": 1, "nodes": {"A/b:prepare": {"fingerprint": "f", "step": "prepare", "resource": "A/b",'
     b' "metrics": [], "outputs": {"m": 3}, "commit": 5}}}', None, "metrics must be an object, not array (+2 more)"),
])
def test_a_lock_of_the_wrong_shape_is_a_located_diagnostic(raw, where, says):
    lock, [problem] = parse_lock(raw)
    assert lock.nodes == {} and problem.code == "E302" and says in problem.message and problem.hint
    if where is not None:
        assert (problem.line, problem.col) == where


def test_entry_shape_and_location_helpers():
    assert entry_problems(entry().to_dict()) == []
    assert entry_problems({"fingerprint": "f", "step": "s", "resource": "r", "data": {"d": None}}) == []
    text = Lock({"A/b:prepare": entry()}).to_json()
    line, col = locate(text, ("A/b:prepare", "metrics", "passed"))
    assert text.splitlines()[line - 1][col - 1:].startswith('"passed"')
    assert locate(text, ("nowhere",)) == (1, 1)


def test_a_saved_plan_is_refused_when_a_fingerprint_moved():
    saved = {"format_version": 1, "specs_digest": "s", "lock_digest": Lock().digest,
             "changes": [{"node": "Dataset/d:prepare", "action": "create", "fingerprint": "a", "previous_fingerprint": None},
                         {"node": "Dataset/e:prepare", "action": "delete", "fingerprint": None, "previous_fingerprint": "x"}]}
    assert check_fresh(saved, "s", Lock(), {"Dataset/d:prepare": "a"}).fresh
    assert moved_inputs(saved, {"Dataset/d:prepare": "b"}) == ["Dataset/d:prepare"]
    stale = check_fresh(saved, "s", Lock(), {"Dataset/d:prepare": "b"})
    assert not stale.fresh and "Dataset/d:prepare" in stale.reason and "changed since the plan" in stale.reason
    assert "plan again" in stale.hint


def test_state_diff_names_the_resources_whose_entries_changed():
    before = Lock({"Prompt/p:prompt": LockEntry("f", "prompt", "Prompt/p"), "Model/m:finetune": LockEntry("g", "finetune", "Model/m")})
    after = Lock({"Prompt/p:prompt": LockEntry("f", "prompt", "Prompt/p"), "Model/m:finetune": LockEntry("h", "finetune", "Model/m"),
                  "Dataset/d:prepare": LockEntry("i", "prepare", "Dataset/d")})
    changes = lock_changes(before.to_json().encode(), after.to_json().encode())
    assert {(c.rule, c.resource) for c in changes} == {(LOCK_RULE, "Model/m"), (LOCK_RULE, "Dataset/d")}
    assert lock_changes(before.to_json().encode(), before.to_json().encode()) == []
    assert [c.resource for c in lock_changes(None, b"{}")] == [None]
    log = chain_record(landing({"Model/m:finetune": entry()}), 1, "0" * 64)
    assert [(c.rule, c.resource, c.line) for c in log_changes(b"", log)] == [(LOG_RULE, "Model/m", 1)]
    assert log_changes(log, log) == []


def test_content_addressed_reads_check_the_bytes():
    listing = b'[{"md5": "0cc175b9c0f1b6a831c399e269772661", "relpath": "metrics.json"}]'
    oid = hashlib.md5(listing).hexdigest() + ".dir"
    assert object_matches(listing, oid) and not object_matches(listing + b" ", oid)
    assert listed_md5(listing, "metrics.json") == "0cc175b9c0f1b6a831c399e269772661"
    assert listed_md5(listing, "other.json") is None and listed_md5(b"not json", "metrics.json") is None


# ------------------------------------------------------------------ P302: where apply pushes and pulls
DVC_CONFIG_TEXT = b"""[core]
    no_scm = True
    remote = llmops
['remote "llmops"']
    url = /srv/remote
"""


def test_remote_changes_see_where_artifacts_go_and_nothing_else():
    from compiler.policy.state_diff import remote_changes

    assert remote_changes(DVC_CONFIG_TEXT, DVC_CONFIG_TEXT) == []
    assert remote_changes(DVC_CONFIG_TEXT, DVC_CONFIG_TEXT.replace(b"no_scm = True", b"no_scm = False")) == []
    moved = remote_changes(DVC_CONFIG_TEXT, DVC_CONFIG_TEXT.replace(b"/srv/remote", b"s3://elsewhere/x"))
    assert [(c.detail, c.line) for c in moved] == [('the DVC remote configuration changed: [remote "llmops"] edited', 4)]
    endpoint = remote_changes(DVC_CONFIG_TEXT, DVC_CONFIG_TEXT + b"    endpointurl = http://evil.example\n")
    assert endpoint and "edited" in endpoint[0].detail
    default = remote_changes(DVC_CONFIG_TEXT, DVC_CONFIG_TEXT.replace(b"remote = llmops", b"remote = other")
                             + b"['remote \"other\"']\n    url = /tmp/other\n")
    assert "[core] edited" in default[0].detail and '[remote "other"] added' in default[0].detail
    assert remote_changes(None, DVC_CONFIG_TEXT)[0].detail.endswith("added, [remote \"llmops\"] added")
    assert remote_changes(DVC_CONFIG_TEXT, b"[[[ not ini")  # a config that does not read is a change too
