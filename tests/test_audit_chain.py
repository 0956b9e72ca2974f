"""The apply log's hash chain: every way of tampering with it is caught, and the first bad record named."""

from __future__ import annotations

import orjson
import pytest

from compiler.audit.applylog import APPLY_LOG_NAME, GENESIS, chain_record, record_hash, split_lines
from compiler.audit.chain import verify_chain, verify_log
from runners.apply_log import ApplyLogBroken, append_record


def record(i: int, **extra) -> dict:
    return {"who": "ci <ci@example.com>", "when": f"2026-01-{i:02d}T10:00:00Z", "commit": f"{i:040x}",
            "plan_hash": f"{i:064x}", "result": "applied", "gates": {"EvalGate/quality": {"passed": True, "verdict": "ok"}},
            "nodes": {"Model/clf:finetune": {"fingerprint": f"fp{i}", "action": "update", "status": "applied",
                                             "outputs": {"model": f"md5-{i}"}, "metrics": {"loss": 1 / i}}},
            "policy": {"errors": 0}, "waivers": [], **extra}


@pytest.fixture
def log(tmp_path):
    """A log of five records written by the real writer; returns (root, its lines)."""
    for i in range(1, 6):
        append_record(tmp_path, record(i))
    raw = (tmp_path / APPLY_LOG_NAME).read_bytes()
    return tmp_path, raw.splitlines(keepends=True)


def rechain(lines: list[bytes]) -> bytes:
    """What a careful forger does: renumber and re-hash every record after changing some."""
    out, prev = b"", GENESIS
    for i, line in enumerate(lines, 1):
        body = {k: v for k, v in orjson.loads(line).items() if k not in ("log_version", "seq", "prev", "hash")}
        stored = chain_record(body, i, prev)
        prev = orjson.loads(stored)["hash"]
        out += stored
    return out


def edit(line: bytes, rehash: bool = False, **fields) -> bytes:
    data = {**orjson.loads(line), **fields}
    if rehash:
        data["hash"] = record_hash(data)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS) + b"\n"


def problem(raw: bytes):
    report = verify_chain(raw)
    assert not report.ok
    return report.problem.how, report.problem.line, report.problem.seq


def test_the_writer_chains_records_and_returns_what_it_stored(tmp_path):
    stored = [append_record(tmp_path, record(i)) for i in range(1, 4)]
    lines = split_lines((tmp_path / APPLY_LOG_NAME).read_bytes())
    assert [line.record for line in lines] == stored
    assert [s["seq"] for s in stored] == [1, 2, 3] and stored[0]["prev"] == GENESIS
    assert stored[1]["prev"] == stored[0]["hash"] and stored[2]["hash"] == record_hash(stored[2])
    report = verify_chain((tmp_path / APPLY_LOG_NAME).read_bytes())
    assert report.ok and report.records == 3 and report.head == stored[2]["hash"]


def test_an_empty_or_absent_log_is_intact():
    assert verify_chain(b"").ok and verify_chain(b"").records == 0


def test_an_edited_field_is_caught_at_its_line(log):
    _, lines = log
    lines[2] = lines[2].replace(b'"passed":true', b'"passed":false')
    assert problem(b"".join(lines)) == ("edited", 3, 3)


def test_an_edit_with_its_own_hash_recomputed_is_caught_by_the_next_record(log):
    _, lines = log
    lines[1] = edit(lines[1], rehash=True, who="someone else")
    how, line, seq = problem(b"".join(lines))
    assert (how, line, seq) == ("edited", 2, 2)


@pytest.mark.parametrize("gone, expected", [(2, ("deleted", 3, 3)), (0, ("deleted", 1, 1))])
def test_a_deleted_record_is_caught(log, gone, expected):
    _, lines = log
    del lines[gone]
    assert problem(b"".join(lines)) == expected


def test_reordered_records_are_caught(log):
    _, lines = log
    lines[1], lines[3] = lines[3], lines[1]
    assert problem(b"".join(lines))[0] == "reordered"


def test_a_duplicated_record_is_caught_as_inserted(log):
    _, lines = log
    lines.insert(3, lines[2])
    assert problem(b"".join(lines)) == ("inserted", 4, 3)


def test_a_forged_record_with_a_valid_hash_and_prev_is_caught_as_inserted(log):
    _, lines = log
    forged = chain_record(record(9, result="applied"), 3, orjson.loads(lines[1])["hash"])
    lines.insert(2, forged)
    how, line, seq = problem(b"".join(lines))
    assert (how, line, seq) == ("inserted", 3, 3)


def test_a_line_cut_short_is_caught_as_truncated(log):
    _, lines = log
    assert problem(b"".join(lines)[:-20]) == ("truncated", 5, 5)


def test_a_garbage_line_is_caught(log):
    _, lines = log
    lines[1] = b"not json\n"
    assert problem(b"".join(lines)) == ("edited", 2, 2)


def test_a_newer_log_version_is_reported_not_misread(log):
    _, lines = log
    lines[4] = edit(lines[4], rehash=True, log_version=2)
    assert problem(b"".join(lines))[0] == "unsupported"


def test_cutting_the_tail_is_caught_against_the_committed_version(log):
    _, lines = log
    committed = [("c" * 40, b"".join(lines))]
    report = verify_log(b"".join(lines[:3]), committed)
    assert verify_chain(b"".join(lines[:3])).ok  # the chain alone cannot see it
    assert not report.ok and report.problem.how == "truncated" and report.problem.commit == "c" * 40
    assert report.problem.seq == 4


@pytest.mark.parametrize("change, how", [
    (lambda lines: [*lines[:2], edit(lines[2], who="x"), *lines[3:]], "edited"),
    (lambda lines: [*lines[:2], *lines[3:]], "deleted"),
    (lambda lines: [*lines[:2], lines[3], lines[2], *lines[4:]], "reordered"),
    (lambda lines: [*lines[:2], lines[0], *lines[2:]], "inserted"),
])
def test_a_rewritten_chain_is_caught_against_the_committed_version(log, change, how):
    _, lines = log
    forged = rechain(change(lines))
    assert verify_chain(forged).ok  # internally consistent: only history can tell
    report = verify_log(forged, [("d" * 40, b"".join(lines))])
    assert (report.problem.how, report.problem.seq, report.problem.commit) == (how, 3, "d" * 40)


def test_an_intact_log_with_appended_records_passes_against_older_commits(log):
    root, lines = log
    append_record(root, record(6))
    report = verify_log((root / APPLY_LOG_NAME).read_bytes(), [("e" * 40, b"".join(lines)), ("f" * 40, b"".join(lines[:2]))])
    assert report.ok and report.records == 6 and report.commits_checked == 2


def test_the_writer_refuses_to_extend_a_tampered_log(log):
    root, lines = log
    (root / APPLY_LOG_NAME).write_bytes(b"".join([lines[0], lines[2]]))
    with pytest.raises(ApplyLogBroken, match="record 2 missing"):
        append_record(root, record(7))
    assert (root / APPLY_LOG_NAME).read_bytes() == b"".join([lines[0], lines[2]])


def test_the_writer_rejects_malformed_records(tmp_path):
    with pytest.raises(ValueError, match="result must be one of"):
        append_record(tmp_path, record(1, result="maybe"))
    with pytest.raises(ValueError, match="seq is set by the log itself"):
        append_record(tmp_path, record(1, seq=4))
    with pytest.raises(ValueError, match="when must be a UTC ISO time"):
        append_record(tmp_path, record(1, when="2026-01-01T10:00:00+02:00"))
    assert not (tmp_path / APPLY_LOG_NAME).exists()
