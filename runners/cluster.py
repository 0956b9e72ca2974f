"""The Ray cluster apply runs on: an existing one (``--address``), or the project's local one.

The local cluster is a real Ray head started in the background (``ray start --head
--block`` in its own process group), so deployments keep serving after ``apply``
returns; ``llmops down`` stops it. Token authentication stays on, deliberately: Ray 2.60
turns it on for local clusters, and a cluster that runs arbitrary code must not be open
to anyone on the machine. The token is the project's own (``.llmops/ray/auth_token``,
mode 0600, never in git), not the user-wide ``~/.ray/auth_token``; processes that talk to
the cluster get it through ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH``.
An existing cluster is reached with whatever token the user configured for Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from runners.files import write_atomic
from runners.step import NodeFailed

NAMESPACE = "llmops"


@dataclass(frozen=True)
class Cluster:
    address: str                 # GCS address, host:port
    dashboard_url: str           # http://host:port (Serve's REST API; drift checks read it)
    serve_port: int              # where Serve's HTTP proxy listens
    token_path: str | None = None
    pid: int | None = None       # the local head's `ray start --block` process (its group is the cluster)
    local: bool = False

    def env(self) -> dict[str, str]:
        """Environment for any process that must reach this cluster."""
        if self.token_path is None:
            return {}
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": self.token_path}


def _state_dir(root: Path) -> Path:
    return root / ".llmops" / "ray"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int | None) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _dashboard_up(url: str, token_path: str | None, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(authorized(f"{url}/api/version", token_path), timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def authorized(url: str, token_path: str | None) -> urllib.request.Request:
    """A request to the dashboard carrying the cluster's bearer token, when it has one."""
    request = urllib.request.Request(url)
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token_path and not token:
        try:
            token = Path(token_path).read_text().strip()
        except OSError:
            token = None
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    return request


def recorded_local(root: Path) -> Cluster | None:
    """The project's local cluster when it is running, else None."""
    try:
        cluster = Cluster(**json.loads((_state_dir(root) / "cluster.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return cluster if _alive(cluster.pid) and _dashboard_up(cluster.dashboard_url, cluster.token_path) else None


def start_local(root: Path, num_cpus: int | None = None, timeout: float = 90.0) -> Cluster:
    """Reuse the project's running local cluster, or start one; waits until its dashboard answers."""
    running = recorded_local(root)
    if running is not None:
        return running
    state = _state_dir(root)
    state.mkdir(parents=True, exist_ok=True)
    token_path = state / "auth_token"
    if not token_path.exists():
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    port, dashboard_port, serve_port = _free_port(), _free_port(), _free_port()
    # Ray's socket paths must stay short: a temp dir per project under /tmp, not inside the repo.
    temp_dir = Path("/tmp") / f"llmops-ray-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]}"
    ray_bin = Path(sys.executable).with_name("ray")
    command = [str(ray_bin), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
               f"--num-cpus={num_cpus or os.cpu_count() or 1}", "--include-dashboard=true",
               "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", f"--temp-dir={temp_dir}",
               "--disable-usage-stats"]
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}
    env.pop("RAY_AUTH_TOKEN", None)
    log = open(state / "head.log", "ab")  # noqa: SIM115 - handed to the background process
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    cluster = Cluster(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}", serve_port, str(token_path),
                      process.pid, local=True)
    deadline = time.monotonic() + timeout
    while not _dashboard_up(cluster.dashboard_url, cluster.token_path, timeout=1.0):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_pid(process.pid)
            raise NodeFailed("the local Ray cluster did not start",
                             f"see {state / 'head.log'}; or run apply on a cluster with --address", retryable=False)
        time.sleep(0.5)
    write_atomic(state / "cluster.json", json.dumps(asdict(cluster), indent=2))
    return cluster


def stop_pid(pid: int | None, grace: float = 15.0) -> None:
    """Stop a local head and everything it started (its process group)."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def stop_local(root: Path) -> bool:
    """Stop the project's local cluster (deployments on it stop serving); False if none ran."""
    path = _state_dir(root) / "cluster.json"
    try:
        cluster = Cluster(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return False
    running = _alive(cluster.pid)
    stop_pid(cluster.pid)
    path.unlink(missing_ok=True)
    return running


def existing(address: str, serve_port: int = 8000) -> Cluster:
    """A cluster someone else runs; its dashboard URL is learned on connect."""
    return Cluster(address=address, dashboard_url="", serve_port=serve_port)


def connect(cluster: Cluster) -> Cluster:
    """Join ``cluster`` as the driver (quietly); returns it with its dashboard URL filled in."""
    os.environ.update(cluster.env())
    import ray

    if not ray.is_initialized():
        try:
            context = ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False,
                               logging_level="ERROR", configure_logging=False)
        except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError: all mean the same to a user
            raise NodeFailed(f"cannot connect to the Ray cluster at {cluster.address}: {exc}",
                             "check the address (RAY_ADDRESS / --address) and the cluster's auth token (RAY_AUTH_TOKEN)",
                             retryable=False) from None
        url = context.dashboard_url or ""
        if url and not cluster.dashboard_url:
            cluster = Cluster(cluster.address, url if url.startswith("http") else f"http://{url}",
                              cluster.serve_port, cluster.token_path, cluster.pid, cluster.local)
    return cluster
