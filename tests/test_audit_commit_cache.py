"""The commit cache: a warm history equals a cold one, reads no blob, and a new commit or new code recomputes."""

from __future__ import annotations

import marshal

import pytest

from compiler.audit import history as history_module
from compiler.audit.commit_cache import MAX_LISTINGS, CommitCache
from compiler.audit.history import spec_history
from compiler.audit.log import audit_log
from compiler.audit.render import render_log
from compiler.audit.snapshot import BlobCache
from tests.test_audit_history import base_history, edit


def history_dicts(h, cache_root, **kw):
    commits = CommitCache.load(cache_root, h.repo.prefix) if cache_root is not None else None
    blobs = BlobCache.load(cache_root)
    entries = spec_history(h.repo, blobs, commits=commits, **kw)
    return [e.to_dict() for e in entries], blobs


def test_a_warm_history_equals_a_cold_one_and_reads_no_blob(tmp_path):
    h, _ = base_history(tmp_path)  # merges, renames and a comment-only commit
    cold, _ = history_dicts(h, None)
    first, first_blobs = history_dicts(h, tmp_path)
    warm, warm_blobs = history_dicts(h, tmp_path)
    assert first == cold and warm == cold
    assert first_blobs.entries  # the first run parsed the blobs ...
    assert warm_blobs._entries is None  # ... the warm one never opened the blob cache: every commit was known
    assert render_log(audit_log(h.repo, h.specs, policies=False, cache_root=tmp_path)) == \
        render_log(audit_log(h.repo, h.specs, policies=False))


def test_a_head_listed_before_needs_no_walk_of_the_history(tmp_path, monkeypatch):
    h, _ = base_history(tmp_path)
    cold, _ = history_dicts(h, None)
    history_dicts(h, tmp_path)
    assert CommitCache.load(tmp_path, h.repo.prefix).listing(h.git("rev-parse", "HEAD"))

    def no_walk(*args, **kwargs):
        raise AssertionError("git log ran for a head whose history is cached")

    monkeypatch.setattr(history_module, "log", no_walk)
    assert history_dicts(h, tmp_path)[0] == cold
    with pytest.raises(AssertionError):  # a window in time is listed by git: relative dates move
        history_dicts(h, tmp_path, since="2026-01-11T00:00:00Z")


def test_only_the_newest_heads_keep_their_listing(tmp_path):
    h, _ = base_history(tmp_path)
    history_dicts(h, tmp_path)
    cache = CommitCache.load(tmp_path, h.repo.prefix)
    known = cache.history(list(cache.entries)) or []
    assert len(known) == 5
    for i in range(MAX_LISTINGS + 3):
        cache.remember(f"{i:040x}", known[:1])
    assert len(cache.listings) == MAX_LISTINGS and f"{0:040x}" not in cache.listings
    assert cache.listing(f"{MAX_LISTINGS + 2:040x}") == tuple(c.sha for c, _ in known[:1])


def test_a_new_commit_is_read_and_the_filters_agree(tmp_path):
    h, _ = base_history(tmp_path)
    history_dicts(h, tmp_path)
    h.commit("Train for 5 epochs", "2026-01-20T10:00:00Z", edit("model.yaml", "epochs: 1", "epochs: 5"))
    warm, blobs = history_dicts(h, tmp_path)
    cold, _ = history_dicts(h, None)
    assert warm == cold and warm[0]["message"] == "Train for 5 epochs" and blobs._entries is not None
    assert [f["path"] for f in warm[0]["changes"][0]["fields"]] == ["spec.finetune.training.epochs"]
    window = {"since": "2026-01-11T00:00:00Z", "until": "2026-01-12T12:00:00Z"}
    assert history_dicts(h, tmp_path, **window)[0] == history_dicts(h, None, **window)[0]
    assert [e["message"] for e in history_dicts(h, tmp_path, **window)[0]] == ["Reformat the prompt",
                                                                                "Move the gate into gates/"]


def test_other_code_or_another_folder_starts_over(tmp_path):
    h, _ = base_history(tmp_path)
    history_dicts(h, tmp_path)
    cache = CommitCache.load(tmp_path, h.repo.prefix)
    assert cache.entries and CommitCache.load(tmp_path, "other/").entries == {}
    _, stored = marshal.loads(cache.path.read_bytes())
    cache.path.write_bytes(marshal.dumps(("llmops_spec/defaults.py:1:1", stored)))  # as if the language changed
    assert CommitCache.load(tmp_path, h.repo.prefix).entries == {}
    assert history_dicts(h, tmp_path)[0] == history_dicts(h, None)[0]
    cache.path.write_bytes(b"\x00garbage")
    assert CommitCache.load(tmp_path, h.repo.prefix).entries == {}
