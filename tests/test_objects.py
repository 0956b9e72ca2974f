"""Artifacts through the remote, with no shared disk: what a task pushes is what DVC would push, every byte a
worker fetches is checked against its md5, and what cannot be trusted fails loudly. Real DVC data layer, a
folder remote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import write_project

from runners.objects import (Manifest, confined, fetch, fetch_folders, fetch_many, listing_entries, push_folder,
                             verify_folders)
from runners.remote_odb import RemoteAddress
from runners.step import NodeFailed


def object_path(remote: Path, oid: str) -> Path:
    return remote / "files" / "md5" / oid[:2] / oid[2:]


@pytest.fixture
def pushed(tmp_path):
    out = write_project(tmp_path / "out", {"a.txt": "hello\n", "sub/b.txt": "world\n"})
    remote = tmp_path / "remote"
    return remote, push_folder(RemoteAddress(str(remote)), out, "Prompt/p:prompt")


def landing_problem(remote: Path, manifest: Manifest, target: Path) -> str | None:
    """Why the driver would not land ``manifest``'s folder from ``remote`` (None: it fetched every file to ``target``)."""
    (got,) = fetch_folders(RemoteAddress(str(remote)), {"out": (manifest, target)}, {"out": "Prompt/p:prompt"}).values()
    return got.message if isinstance(got, NodeFailed) else None


def test_a_pushed_folder_comes_back_byte_for_byte_with_its_manifest(pushed, tmp_path):
    remote, manifest = pushed
    assert manifest.nfiles == 2 and manifest.size == 12 and manifest.oid.endswith(".dir")
    assert landing_problem(remote, manifest, tmp_path / "landed") is None
    assert (tmp_path / "landed" / "sub" / "b.txt").read_text() == "world\n"
    assert fetch(RemoteAddress(str(remote)), manifest.oid, tmp_path / "back") == 12
    assert (tmp_path / "back" / "sub" / "b.txt").read_text() == "world\n"
    assert not list((tmp_path).glob("**/.*.part")) and not (tmp_path / ".out.objects").exists()


def test_an_output_with_no_files_is_refused(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(NodeFailed, match="Model/m:import produced no output files") as refused:
        push_folder(RemoteAddress(str(tmp_path / "remote")), tmp_path / "empty", "Model/m:import")
    assert refused.value.retryable is False
    assert landing_problem(tmp_path / "remote", Manifest("0" * 32 + ".dir", 0, 0), tmp_path / "t") == "the output has no files"


def test_a_corrupted_object_on_the_remote_fails_the_fetch_naming_it(pushed, tmp_path):
    remote, manifest = pushed
    listing = json.loads(object_path(remote, manifest.oid).read_bytes())
    oid = next(e["md5"] for e in listing if e["relpath"] == "a.txt")
    target = object_path(remote, oid)
    target.chmod(0o644)
    target.write_text("tampered\n")
    with pytest.raises(NodeFailed, match=f"object {oid} \\(Dataset/d/a.txt\\) does not hash to its md5") as failed:
        fetch_many(RemoteAddress(str(remote)), {"in": manifest.oid}, tmp_path / "w", {"in": "Dataset/d"})
    assert "push it again" in failed.value.hint and failed.value.retryable is False
    assert not list((tmp_path / "w").rglob("a.txt*")), "nothing that failed its check is left where the step reads"
    assert landing_problem(remote, manifest, tmp_path / "t") is None  # present: Store.land's own hash refuses it


def test_a_deleted_object_fails_the_fetch_and_the_landing(pushed, tmp_path):
    remote, manifest = pushed
    listing = json.loads(object_path(remote, manifest.oid).read_bytes())
    oid = listing[1]["md5"]
    object_path(remote, oid).unlink()
    with pytest.raises(NodeFailed, match=f"the DVC remote holds no object {oid}"):
        fetch(RemoteAddress(str(remote)), manifest.oid, tmp_path / "w")
    assert f"the DVC remote holds no object {oid}" in landing_problem(remote, manifest, tmp_path / "t1")
    object_path(remote, manifest.oid).unlink()
    assert f"the DVC remote holds no object {manifest.oid}" in landing_problem(remote, manifest, tmp_path / "t2")


def test_a_manifest_that_is_not_what_the_remote_holds_is_not_landed(pushed, tmp_path):
    remote, manifest = pushed
    lying = Manifest(manifest.oid, manifest.size, manifest.nfiles + 1)
    assert "has 2 files, the task reported 3" in landing_problem(remote, lying, tmp_path / "t")


def test_one_broken_folder_of_a_batch_leaves_the_others_fetched(pushed, tmp_path):
    remote, manifest = pushed
    other = push_folder(RemoteAddress(str(remote)), write_project(tmp_path / "o", {"c.txt": "other\n"}), "Prompt/q:prompt")
    listing = json.loads(object_path(remote, manifest.oid).read_bytes())
    object_path(remote, listing[0]["md5"]).unlink()
    got = fetch_folders(RemoteAddress(str(remote)), {"p": (manifest, tmp_path / "p"), "q": (other, tmp_path / "q")},
                        {"p": "Prompt/p:prompt", "q": "Prompt/q:prompt"})
    assert isinstance(got["p"], NodeFailed) and "holds no object" in got["p"].message
    assert got["q"] == len("other\n") and (tmp_path / "q" / "c.txt").read_text() == "other\n"


def test_a_listing_may_name_only_files_inside_its_folder():
    def listing(entries) -> tuple[bytes, str]:
        data = json.dumps(entries).encode()
        return data, hashlib.md5(data).hexdigest() + ".dir"

    good = {"md5": "0" * 32, "relpath": "model/config.json"}
    assert listing_entries(*listing([good])) == [("model/config.json", "0" * 32)]
    for relpath in ("../../etc/cron.d/x", "/etc/passwd", "a/../../b", "", "a\\..\\b", "./"):
        with pytest.raises(ValueError, match="not a file of the folder"):
            listing_entries(*listing([{"md5": "0" * 32, "relpath": relpath}]))
    data, oid = listing([good])
    with pytest.raises(ValueError, match="does not hash"):
        listing_entries(data + b" ", oid)
    assert confined("a/b.txt") and not confined("..") and not confined("a/./b")


def verified(remote: Path, **manifests: Manifest) -> dict[str, bytes | str]:
    """What ``verify_folders`` says of each folder: its listing's bytes, or why it would not be landed."""
    got = verify_folders(RemoteAddress(str(remote)), manifests, {key: f"Prompt/{key}:prompt" for key in manifests})
    return {key: value.message if isinstance(value, NodeFailed) else value for key, value in got.items()}


def test_a_folder_is_checked_whole_on_the_remote_without_fetching_its_files(pushed, tmp_path):
    remote, manifest = pushed
    other = push_folder(RemoteAddress(str(remote)), write_project(tmp_path / "o", {"c.txt": "other\n"}), "Prompt/q:prompt")
    got = verified(remote, p=manifest, q=other)
    assert got["p"] == object_path(remote, manifest.oid).read_bytes() and isinstance(got["q"], bytes)
    listing = json.loads(got["p"])
    object_path(remote, listing[0]["md5"]).unlink()  # one file of p lost: p is refused, q still lands
    got = verified(remote, p=manifest, q=other)
    assert f"holds no object for Prompt/p:prompt/{listing[0]['relpath']}" in got["p"] and isinstance(got["q"], bytes)


def test_a_folder_whose_remote_files_do_not_add_up_to_the_manifest_is_not_verified(pushed, tmp_path):
    remote, manifest = pushed
    target = object_path(remote, json.loads(object_path(remote, manifest.oid).read_bytes())[1]["md5"])
    target.chmod(0o644)
    target.write_text("truncated")  # 9 bytes where 6 were pushed
    assert "add up to 15 bytes, the task reported 12" in verified(remote, p=manifest)["p"]
    assert "has 2 files, the task reported 3" in verified(remote, p=Manifest(manifest.oid, 12, 3))["p"]
    assert verified(remote, p=Manifest("0" * 32 + ".dir", 0, 0))["p"] == "the output has no files"
    assert "holds no object" in verified(remote, p=Manifest("1" * 32 + ".dir", 12, 2))["p"]
