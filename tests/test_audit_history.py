"""Spec history from real git repositories: field-level changes, merges, renames, comments that change nothing.

Also home of ``History``, the helper the other audit tests build repositories with.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from compiler.audit.git import open_repo
from compiler.audit.history import spec_history
from compiler.audit.log import audit_log
from compiler.audit.snapshot import BlobCache, is_spec_path
from compiler.cache_dir import cache_dir
from tests.projects import BASE


class History:
    """A real git repository in a temp folder, specs under ``specs/``, with dated commits."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.specs = top / "specs"
        self.specs.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        for key, value in (("user.name", "Ana Auditor"), ("user.email", "ana@example.com"), ("commit.gpgsign", "false")):
            self.git("config", key, value)
        (top / ".gitignore").write_text(".llmops/\n")  # the compiler's caches and the state lock's guard

    def git(self, *args: str, date: str = "2026-01-01T10:00:00Z", author: str | None = None) -> str:
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        if author:
            name, email = author.split(" <")
            env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email.rstrip(">"))
        done = subprocess.run(["git", *args], cwd=self.top, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def write(self, files: dict[str, str | None]) -> None:
        """Write (dedented) or delete (None) files under specs/."""
        for name, text in files.items():
            target = self.specs / name
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))

    def commit(self, message: str, date: str, files: dict[str, str | None] | None = None, author: str | None = None) -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, date=date, author=author)
        return self.git("rev-parse", "HEAD")

    @property
    def repo(self):
        return open_repo(self.specs)


def edit(name: str, old: str, new: str) -> dict[str, str]:
    return {name: textwrap.dedent(BASE[name]).replace(old, new)}


def base_history(tmp_path: Path) -> tuple[History, dict[str, str]]:
    """main: add the project; a branch raises epochs and renames gate.yaml; main edits a comment; merge."""
    h = History(tmp_path / "repo")
    shas = {"add": h.commit("Add the ticket project", "2026-01-01T10:00:00Z", dict(BASE))}
    h.git("checkout", "-q", "-b", "tune")
    shas["epochs"] = h.commit("Train for 3 epochs", "2026-01-10T10:00:00Z", edit("model.yaml", "epochs: 1", "epochs: 3"),
                              author="Bo Builder <bo@example.com>")
    h.git("mv", "specs/gate.yaml", "specs/gates/quality.yaml") if (h.specs / "gates").mkdir() is None else None
    shas["rename"] = h.commit("Move the gate into gates/", "2026-01-11T10:00:00Z")
    h.git("checkout", "-q", "main")
    shas["comment"] = h.commit("Reformat the prompt", "2026-01-12T10:00:00Z", {
        "prompt.yaml": "# classify tickets\n" + textwrap.dedent(BASE["prompt.yaml"]).replace("{name: classify}", "\n    name: classify")})
    h.git("merge", "-q", "--no-ff", "-m", "Merge tune", "tune", date="2026-01-13T10:00:00Z")
    shas["merge"] = h.git("rev-parse", "HEAD")
    return h, shas


def by_subject(entries) -> dict[str, Any]:
    return {e.commit.subject: e for e in entries}


def test_field_level_changes_merges_and_renames(tmp_path):
    h, shas = base_history(tmp_path)
    history = by_subject(spec_history(h.repo, BlobCache.load(None)))
    assert list(history) == ["Merge tune", "Reformat the prompt", "Move the gate into gates/", "Train for 3 epochs",
                             "Add the ticket project"]
    added = history["Add the ticket project"].changes
    assert [(c.ref, c.action) for c in added] == [("Dataset/tickets", "added"), ("Deployment/prod", "added"),
                                                  ("EvalGate/quality", "added"), ("Model/clf", "added"),
                                                  ("Prompt/classify", "added")]
    epochs = history["Train for 3 epochs"]
    assert [(c.ref, [(f.path, f.old, f.new) for f in c.fields]) for c in epochs.changes] == [
        ("Model/clf", [("spec.finetune.training.epochs", 1.0, 3.0)])]
    assert epochs.commit.author == "Bo Builder" and epochs.commit.email == "bo@example.com"
    # A file rename is not a resource change; a comment and a reflow are no change at all.
    assert history["Move the gate into gates/"].changes == ()
    assert history["Move the gate into gates/"].renamed == (("gate.yaml", "gates/quality.yaml"),)
    assert history["Reformat the prompt"].changes == ()
    # The merge brings the branch's epochs change into main (diffed against its first parent).
    merge = history["Merge tune"]
    assert merge.commit.is_merge and [c.ref for c in merge.changes] == ["Model/clf"]


def test_list_items_labels_and_removals_are_named(tmp_path):
    h = History(tmp_path / "repo")
    h.commit("add", "2026-01-01T10:00:00Z", dict(BASE))
    h.commit("more", "2026-01-02T10:00:00Z", {
        **edit("datasets.yaml", "- dedup: {columns: [text]}", "- dedup: {columns: [text]}\n    - filter: {expr: \"size(text) > 3\"}"),
        "deploy.yaml": None})
    current = (h.specs / "datasets.yaml").read_text()
    h.commit("unlabel", "2026-01-03T10:00:00Z", {"datasets.yaml": current.replace('labels: {pii: "true"}, ', "")})
    history = by_subject(spec_history(h.repo, BlobCache.load(None)))
    more = {c.ref: c for c in history["more"].changes}
    assert more["Deployment/prod"].action == "removed"
    assert [(f.path, f.old) for f in more["Dataset/tickets"].fields] == [("spec.transforms[1]", None)]
    assert more["Dataset/tickets"].fields[0].new["filter"]["expr"] == "size(text) > 3"
    assert [(f.path, f.old, f.new) for f in history["unlabel"].changes[0].fields] == [("metadata.labels.pii", "true", None)]


def test_invalid_documents_are_still_diffed_as_written(tmp_path):
    h = History(tmp_path / "repo")
    h.commit("add", "2026-01-01T10:00:00Z", dict(BASE))
    h.commit("break", "2026-01-02T10:00:00Z", edit("model.yaml", "epochs: 1", "epochs: lots"))
    change = by_subject(spec_history(h.repo, BlobCache.load(None)))["break"].changes[0]
    assert (change.ref, change.valid, change.fields[0].path, change.fields[0].new) == (
        "Model/clf", False, "spec.finetune.training.epochs", "lots")


def test_log_filters_by_kind_name_and_date_and_skips_bookkeeping(tmp_path):
    h, _ = base_history(tmp_path)
    h.commit("record an apply", "2026-01-14T10:00:00Z", {"llmops.lock": '{"lock_version": 1, "nodes": {}}\n'})
    root = h.specs
    subjects = [e.spec.commit.subject for e in audit_log(h.repo, root, policies=False)]
    assert "record an apply" not in subjects and "Move the gate into gates/" in subjects
    models = audit_log(h.repo, root, kind="Model", policies=False)
    assert [e.spec.commit.subject for e in models] == ["Merge tune", "Train for 3 epochs", "Add the ticket project"]
    assert [e.spec.commit.subject for e in audit_log(h.repo, root, name="prod", policies=False)] == ["Add the ticket project"]
    recent = audit_log(h.repo, root, since="2026-01-11T00:00:00Z", until="2026-01-12T12:00:00Z", policies=False)
    assert [e.spec.commit.subject for e in recent] == ["Reformat the prompt", "Move the gate into gates/"]


def test_the_blob_cache_makes_a_second_walk_parse_nothing(tmp_path):
    h, _ = base_history(tmp_path)
    first = BlobCache.load(tmp_path)
    cold = spec_history(h.repo, first)
    assert first.entries and (cache_dir(tmp_path) / "audit-blobs.marshal").exists()
    second = BlobCache.load(tmp_path)
    assert second.missing(list(first.entries)) == []
    assert [e.to_dict() for e in spec_history(h.repo, second)] == [e.to_dict() for e in cold] and not second.dirty


def test_spec_paths_follow_the_loader_rules():
    assert is_spec_path("models/a.yaml") and is_spec_path("b.yml")
    assert not any(map(is_spec_path, ["dvc.yaml", ".hidden/a.yaml", "x/.a.yaml", "node_modules/a.yaml", "llmops.lock",
                                      "data/t.jsonl"]))
