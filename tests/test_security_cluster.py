"""Issue 15, the cluster: the Ray token, the processes ``down`` signals, and the local cluster's network.

Each test is the attack: a lock (and a ``cluster.json``) naming a dashboard that is a
listener recording the Authorization header; a ``cluster.json`` naming pid 1, or a
process the test started; a lock sending ``llmops call``'s payload to another host. Each
asserts the refusal and that nothing was sent or signalled, beside a control showing the
same listener, or the same signal, does receive what llmops means to send. The slow test
starts one local cluster and checks every listening socket of it.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from compiler.lockfile import LOCK_NAME, LockEntry
from llmops_cli.commands.call import on_this_machine
from runners.cluster import known_dashboard, recorded_local, stop_local, token_path, verified_head
from runners.local_head import HeadPorts, head_command, read_head
from runners.process_identity import ProcessIdentity, identify, mismatch, session_members
from tests.conftest import run_llmops, write_project
from tests.projects import BASE, files
from tests.state_helpers import write_vouched_lock

PROJECT_TOKEN = "project-token-" + "1" * 40
ENV_TOKEN = "env-token-" + "2" * 40


class Recorder:
    """An HTTP server on 127.0.0.1 that records every request (path, Authorization header, body)."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.seen: list[tuple[str, str, str | None, bytes]] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                seen.append((self.command, self.path, self.headers.get("Authorization"), self.rfile.read(size)))
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", f"{redirect_to}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"applications": {}, "prediction": "recorded"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    with Recorder() as listener:
        yield listener


@pytest.fixture
def sleeper():
    """A process the test started, in a session of its own (so a killpg or a session signal would reach it)."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _private_token(root: Path, text: str = PROJECT_TOKEN) -> Path:
    path = root / ".llmops" / "ray" / "auth_token"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _record(root: Path, body: dict) -> None:
    (root / ".llmops" / "ray").mkdir(parents=True, exist_ok=True)
    (root / ".llmops" / "ray" / "cluster.json").write_text(json.dumps(body))


def _hostile_project(tmp_path: Path, listener: str, sleeper_pid: int) -> Path:
    """A project whose lock (vouched for, as an unsigned log can be forged) and cluster.json point at ``listener``."""
    from compiler import compile_project
    from compiler.fingerprint import fingerprint_graph

    clean = BASE["datasets.yaml"].replace('labels: {pii: "true"}, ', "")
    root = write_project(tmp_path / "specs", files(datasets_yaml=clean))
    compilation = compile_project(root, use_cache=False)
    prints = fingerprint_graph(compilation.project, compilation.graph)
    serve = {"app": "prod", "version": "v-0123456789ab", "url": f"{listener}/prod", "route_prefix": "/prod",
             "config": {}, "dashboard_url": listener}  # what an older apply wrote, pointed elsewhere
    write_vouched_lock(root, {nid: LockEntry(fp.value, fp.step, str(compilation.graph.nodes[nid].resource), fp.code,
                                             fp.spec, fp.inputs, fp.data,
                                             outputs={"serve": serve} if fp.step == "deploy" else {},
                                             metrics={"passed": True} if fp.step == "gate" else {})
                              for nid, fp in prints.items()})
    _private_token(root)
    outside = tmp_path / "elsewhere-token"
    outside.write_text("not-the-project-token")
    _record(root, {"address": "127.0.0.1:1", "dashboard_url": listener, "serve_port": 1, "token_path": str(outside),
                   "pid": sleeper_pid, "local": True})  # the old format: a live pid, a dashboard, a token path
    return root


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_DASHBOARD_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    return {**env, "LLMOPS_LOG_KEY": "", "RAY_AUTH_TOKEN": ENV_TOKEN, **extra}


# ----------------------------------------------------------------------------- hole 3: the token
def test_plan_and_apply_send_nothing_to_a_dashboard_the_lock_or_cluster_json_names(tmp_path, recorder, sleeper):
    root = _hostile_project(tmp_path, recorder.url, sleeper.pid)
    planned = run_llmops("plan", ".", cwd=root, env=_clean_env())
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "could not check Deployment/prod for drift: no Ray cluster is known" in planned.stderr
    applied = run_llmops("apply", ".", "--yes", cwd=root, env=_clean_env())
    assert "could not check Deployment/prod for drift" in applied.stderr, applied.stdout + applied.stderr
    named = run_llmops("plan", ".", cwd=root, env=_clean_env(RAY_ADDRESS="127.0.0.1:1"))
    assert "set RAY_DASHBOARD_ADDRESS" in named.stderr, named.stderr
    assert recorder.seen == [], "no request reached the URL the lock and cluster.json name"
    assert sleeper.poll() is None

    # The control: the same listener, named by the user's environment, is asked, with the token configured for Ray.
    asked = run_llmops("plan", ".", cwd=root, env=_clean_env(RAY_DASHBOARD_ADDRESS=recorder.url))
    assert "drift: Serve application prod is not running" in asked.stdout, asked.stdout + asked.stderr
    assert recorder.seen == [("GET", "/api/serve/applications/", f"Bearer {ENV_TOKEN}", b"")]


def test_the_drift_check_asks_only_a_known_dashboard(tmp_path):
    assert known_dashboard(tmp_path, environ={}).startswith("no Ray cluster is known")
    assert "set RAY_DASHBOARD_ADDRESS" in known_dashboard(tmp_path, "head:6379", environ={})
    assert "set RAY_DASHBOARD_ADDRESS" in known_dashboard(tmp_path, environ={"RAY_ADDRESS": "head:6379"})
    explicit = known_dashboard(tmp_path, environ={"RAY_DASHBOARD_ADDRESS": "head:8265/", "RAY_AUTH_TOKEN": ENV_TOKEN})
    assert explicit.url == "http://head:8265" and explicit.token == ENV_TOKEN and ENV_TOKEN not in repr(explicit)
    assert "not an http(s) address" in known_dashboard(tmp_path, environ={"RAY_DASHBOARD_ADDRESS": "file:///etc/passwd"})


def test_a_committed_or_linked_token_file_is_replaced_not_used(tmp_path):
    from runners.cluster import own_token

    root = tmp_path / "specs"
    path = token_path(root)
    path.parent.mkdir(parents=True)
    path.write_text("token-everyone-can-read-in-git")  # what a checkout of a committed file leaves: mode 0644
    path.chmod(0o644)
    assert own_token(root) == path and path.stat().st_mode & 0o777 == 0o600
    assert "token-everyone-can-read-in-git" not in path.read_text()
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    secret.chmod(0o600)
    path.unlink()
    path.symlink_to(secret)
    assert own_token(root) == path and not path.is_symlink() and secret.read_text() == "PRIVATE KEY"
    kept = path.read_text()
    assert own_token(root) == path and path.read_text() == kept  # a private token of the project's own is kept


def test_call_sends_the_payload_only_to_this_machine_and_never_a_token(tmp_path, recorder, sleeper):
    root = _hostile_project(tmp_path, "http://collector.example:8000", sleeper.pid)
    refused = run_llmops("call", "Deployment/prod", '{"text": "customer secret"}', "--project", ".", cwd=root,
                         env=_clean_env())
    assert refused.returncode == 1 and "not on this machine; nothing was sent" in refused.stderr, refused.stderr
    assert "--url URL" in refused.stderr
    lock = root / LOCK_NAME
    lock.write_text(lock.read_text().replace("http://collector.example:8000/prod", f"{recorder.url}/prod"))
    unvouched = run_llmops("call", "Deployment/prod", "--project", ".", cwd=root, env=_clean_env())
    assert unvouched.returncode == 1 and "E303" in unvouched.stdout + unvouched.stderr
    assert recorder.seen == []

    # The control: the user names the URL; the payload goes there, without any credential.
    sent = run_llmops("call", "Deployment/prod", '{"text": "hi"}', "--url", f"{recorder.url}/prod", "--project", ".",
                      cwd=root, env=_clean_env())
    assert sent.returncode == 0 and '"recorded"' in sent.stdout, sent.stdout + sent.stderr
    assert recorder.seen == [("POST", "/prod", None, b'{"text": "hi"}')]


def test_the_token_does_not_follow_a_redirect(recorder):
    from runners.cluster import Dashboard
    from runners.serve_observe import observe

    with Recorder(redirect_to=recorder.url) as known:
        seen = observe(Dashboard(known.url, ENV_TOKEN), {"Deployment/prod:deploy": {"app": "prod"}})
        assert not seen["Deployment/prod:deploy"].reachable and "302" in seen["Deployment/prod:deploy"].error
        assert known.seen == [("GET", "/api/serve/applications/", f"Bearer {ENV_TOKEN}", b"")]
    assert recorder.seen == [], "the redirect was not followed"


@pytest.mark.parametrize("url, ok", [
    ("http://127.0.0.1:8000/x", True), ("http://127.9.0.1:1/x", True), ("http://[::1]:8000/x", True),
    ("https://127.0.0.1/x", True), ("http://localhost:8000/x", False), ("http://10.0.0.1:8000/x", False),
    ("http://127.0.0.1@evil.example/x", False), ("http://127.0.0.1.evil.example/x", False),
    ("file:///etc/passwd", False), ("http://127.0.0.1:99999/x", False), ("ftp://127.0.0.1/x", False), ("", False),
])
def test_on_this_machine_is_loopback_literals_only(url, ok):
    assert on_this_machine(url) is ok


# ----------------------------------------------------------------------------- hole 6: down
def _identity_of(pid: int) -> ProcessIdentity:
    live = identify(pid)
    assert live is not None
    return live


def _fake_head(tmp_path: Path, token: Path, private: Path) -> subprocess.Popen:
    """A process whose command line is a local head's (a Python file named ``ray``), in a session of its own."""
    script = tmp_path / "bin" / "ray"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("import time\ntime.sleep(300)\n")
    command = [sys.executable, *head_command(str(script), 1, HeadPorts(1111, 2222, 3333, 4444, 5555, 6666), private)]
    env = {**os.environ, "RAY_AUTH_TOKEN_PATH": str(token)}
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (identify(process.pid) is None or identify(process.pid).cmdline != tuple(command)):
        time.sleep(0.05)
    return process


def test_down_signals_no_process_the_record_does_not_prove_ours(tmp_path, sleeper):
    root = tmp_path / "specs"
    root.mkdir()
    _private_token(root)
    mine = _identity_of(sleeper.pid)
    ray_like = ("/venv/bin/python3", "/venv/bin/ray", "start", "--head", "--block")
    records = {
        "the old format, a pid alone": {"pid": sleeper.pid, "local": True},
        "another start time": {"head": {**mine.to_json(), "start_time": mine.start_time + 1}},
        "another command line": {"head": {**mine.to_json(), "cmdline": list(ray_like)}},
        "pid, start time and command line match, but it is no Ray head": {"head": mine.to_json()},
    }
    reasons = {"the old format, a pid alone": "names no process identity", "another start time": "started at another time",
               "another command line": "runs another command", "pid, start time and command line match, but it is no Ray "
               "head": "is not a Ray head llmops started"}
    for case, body in records.items():
        _record(root, body)
        down = run_llmops("down", str(root), cwd=tmp_path)
        assert down.returncode == 0, (case, down.stderr)
        assert "nothing was signalled" in down.stderr and reasons[case] in down.stderr, (case, down.stderr)
        assert "No local Ray cluster was running." in down.stdout, case
        assert sleeper.poll() is None, f"{case}: the process was signalled"

    # A process that looks like a head, with a matching record, but started for another project's token.
    private = Path(tempfile.mkdtemp(prefix="llmops-ray-", dir="/tmp"))
    other = _fake_head(tmp_path, tmp_path / "other-project-token", private)
    try:
        _record(root, {"head": _identity_of(other.pid).to_json(), "serve_port": 8000})
        down = run_llmops("down", str(root), cwd=tmp_path)
        assert "is the Ray head of another project" in down.stderr and other.poll() is None, down.stderr
        assert private.is_dir()
    finally:
        other.kill()
        other.wait()

    # The control: the same kind of process, started with this project's token and recorded as apply records a head,
    # is stopped (with its session) and its private temp dir removed.
    ours = _fake_head(tmp_path, token_path(root), private)
    try:
        _record(root, {"head": _identity_of(ours.pid).to_json(), "serve_port": 8000})
        assert isinstance(verified_head(root), tuple)
        down = run_llmops("down", str(root), cwd=tmp_path)
        assert "Stopped the local Ray cluster." in down.stdout, down.stdout + down.stderr
        assert ours.wait(timeout=30) == -signal.SIGTERM
        assert not private.exists() and not (root / ".llmops" / "ray" / "cluster.json").exists()
    finally:
        if ours.poll() is None:
            ours.kill()
            ours.wait()
    assert sleeper.poll() is None


def test_down_never_signals_pid_1(tmp_path, monkeypatch):
    """pid 1 is checked in-process, with the signalling calls watched: a broken check must not reach the real pid 1."""
    import signal as signals

    sent = []
    monkeypatch.setattr(os, "kill", lambda *args: sent.append(("kill", args)))
    monkeypatch.setattr(os, "killpg", lambda *args: sent.append(("killpg", args)))
    monkeypatch.setattr(signals, "pidfd_send_signal", lambda *args: sent.append(("pidfd_send_signal", args)))
    root = tmp_path / "specs"
    root.mkdir()
    init = identify(1)
    bodies = [{"pid": 1, "local": True, "dashboard_url": "http://127.0.0.1:1"}]
    if init is not None:  # pid 1's real identity: all three match, but it is no Ray head of this project's
        bodies.append({"head": init.to_json(), "serve_port": 8000})
    for body in bodies:
        _record(root, body)
        stopped, why = stop_local(root)
        assert stopped is False and why.startswith("nothing was signalled"), why
        assert recorded_local(root) is None
    assert sent == []


def test_identity_decisions_are_pure():
    recorded = ProcessIdentity(10, 500, ("ray", "start"))
    assert mismatch(recorded, ProcessIdentity(10, 500, ("ray", "start"))) is None
    assert "no process 10 runs" in mismatch(recorded, None)
    assert "another time" in mismatch(recorded, ProcessIdentity(10, 501, ("ray", "start")))
    assert "another command" in mismatch(recorded, ProcessIdentity(10, 500, ("sleep", "1")))


def test_read_head_reads_back_only_the_command_llmops_builds():
    private = Path("/tmp/llmops-ray-abc123")
    command = head_command("/venv/bin/ray", 2, HeadPorts(6379, 8265, 1, 2, 3, 4), private)
    head = read_head(["/venv/bin/python3", *command])
    assert head is not None and head.address == "127.0.0.1:6379" and head.dashboard_url == "http://127.0.0.1:8265"
    assert head.private_dir == private
    def swapped(old: str, new: str) -> list[str]:
        return [new if arg == old else arg for arg in command]

    assert read_head(swapped(f"--temp-dir={private}/ray", "--temp-dir=/home/user/ray")) is None
    assert read_head(swapped(f"--temp-dir={private}/ray", "--temp-dir=/tmp/other/ray")) is None
    assert read_head(swapped("--node-ip-address=127.0.0.1", "--node-ip-address=0.0.0.0")) is None
    assert read_head(swapped("--block", "--verbose")) is None
    assert read_head(swapped("--port=6379", "--port=http://evil")) is None
    assert read_head(["sleep", "300"]) is None


# ----------------------------------------------------------------------------- hole 11: the network
def _listening() -> dict[int, tuple[str, int]]:
    """Every listening TCP socket of the machine: inode -> (address, port), from /proc/net/tcp and tcp6."""
    import ipaddress

    found = {}
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            hexaddr, hexport = fields[1].split(":")
            raw = bytes.fromhex(hexaddr)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is little-endian
            found[int(fields[9])] = (str(ipaddress.ip_address(raw)), int(hexport, 16))
    return found


def _sockets(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def _loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _unauthenticated_without_token(port: int) -> bool:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/ray.serve.ASGIService/HandleRequest")
        try:
            call(b"", timeout=10)
        except grpc.RpcError as exc:
            return exc.code() == grpc.StatusCode.UNAUTHENTICATED
    return False


@pytest.mark.slow
def test_the_local_cluster_listens_on_loopback_only_and_keeps_its_temp_dir_private(tmp_path):
    from runners.cluster import start_local

    root = tmp_path / "specs"
    root.mkdir()
    cluster = start_local(root, num_cpus=1)
    try:
        head = read_head(cluster.head.cmdline)
        private = head.private_dir
        info = os.stat(private)
        assert info.st_mode & 0o777 == 0o700 and info.st_uid == os.getuid()
        assert private.parent == Path("/tmp") and private.name.startswith("llmops-ray-") and len(private.name) > 14
        assert str(root) not in str(private) and any((private / "ray").glob("session_*/sockets"))
        assert known_dashboard(root, environ={}).url == cluster.dashboard_url  # the drift check asks the verified head
        token = token_path(root)
        assert token.stat().st_mode & 0o777 == 0o600

        # Serve as the deploy step starts it (runners/steps/deploy.py), with one replica.
        script = textwrap.dedent(f"""
            import ray
            from ray import serve
            ray.init(address={cluster.address!r}, namespace="llmops", log_to_driver=False)
            serve.start(http_options={{"host": "127.0.0.1", "port": {cluster.serve_port}}})

            @serve.deployment(ray_actor_options={{"num_cpus": 0}})
            class Hello:
                async def __call__(self, request):
                    return "hello"

            serve.run(Hello.bind(), name="hello", route_prefix="/hello")
            """)
        started = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240,
                                 env={**os.environ, **cluster.env()})
        assert started.returncode == 0, started.stderr[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{cluster.serve_port}/hello", timeout=30) as answer:
            assert answer.read() == b"hello"

        listening = _listening()
        sockets = {}
        for pid in session_members(cluster.head.pid):
            name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            for inode in _sockets(pid) & listening.keys():
                sockets[listening[inode]] = name
        assert any(port == cluster.serve_port for _, port in sockets), "Serve's HTTP proxy was seen"
        assert any(port == int(cluster.address.rsplit(":", 1)[1]) for _, port in sockets), "the GCS was seen"
        open_wide = {where: name for where, name in sockets.items() if not _loopback(where[0])}
        # The one exception Ray does not let us close: each Serve replica's inter-deployment gRPC server binds [::]
        # (hard-coded in Ray Serve 2.60). It runs behind Ray's token authentication: a call without the token is
        # refused (UNAUTHENTICATED), which is checked here for each such socket.
        replicas = {where: name for where, name in open_wide.items() if name.startswith("ray::ServeReplica")}
        assert open_wide == replicas, f"listeners on more than loopback: {open_wide}"
        for (_, port) in replicas:
            assert _unauthenticated_without_token(port)
    finally:
        down = run_llmops("down", str(root), cwd=tmp_path)
    assert "Stopped the local Ray cluster." in down.stdout, down.stdout + down.stderr
    assert session_members(cluster.head.pid) == []
    assert not private.exists(), "down removed the private temp dir"
