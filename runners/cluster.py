"""The Ray cluster apply runs on: an existing one (``--address``), or the project's local one.

The local cluster is a real Ray head started in the background (``ray start --head
--block`` in its own process group), so deployments keep serving after ``apply``
returns; ``llmops down`` stops it. Every listener of it is on 127.0.0.1, and its temp dir
is private (runners/local_head.py). Token authentication stays on, deliberately: Ray 2.60
turns it on for local clusters, and a cluster that runs arbitrary code must not be open to
anyone on the machine. The token is the project's own (``.llmops/ray/auth_token``, mode
0600, never in git), not the user-wide ``~/.ray/auth_token``; processes that talk to the
cluster get it through ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH``. An existing
cluster is reached with whatever token the user configured for Ray.

``.llmops/ray/cluster.json`` records the head's identity (pid, start time, command line:
runners/process_identity.py). The file is in the checkout, so a pull request can commit
one: nothing in it is believed until the live process matches all three, runs as this
user and was started with this project's token, and even then the cluster's addresses and
temp dir are read from the live command line, and the token path is the project's own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runners.files import write_atomic
from runners.local_head import (LOOPBACK, SINGLE_MACHINE, TEMP_PARENT, TEMP_PREFIX, Head, HeadPorts, head_command,
                                head_env, read_head)
from runners.process_identity import (ProcessIdentity, from_json, identify, mismatch, owned, session_members,
                                      signal_session)
from runners.step import NodeFailed

NAMESPACE = "llmops"
RECORD = "cluster.json"


@dataclass(frozen=True)
class Cluster:
    address: str                 # GCS address, host:port
    dashboard_url: str           # http://host:port (Serve's REST API)
    serve_port: int              # where Serve's HTTP proxy listens
    token_path: str | None = None
    head: ProcessIdentity | None = None  # the local head's `ray start --block` process (its group is the cluster)
    local: bool = False
    serve_host: str = LOOPBACK   # the address Serve's HTTP proxy binds (each node's proxy: runners/steps/deploy.py)
    serve_asked: bool = False    # the user named the host or port: a Serve already listening elsewhere is an error

    def env(self) -> dict[str, str]:
        """Environment for any process that must reach this cluster (set before it imports Ray)."""
        env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": self.token_path} if self.token_path else {}
        return {**env, **(SINGLE_MACHINE if self.local else {})}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an error: the token goes to the dashboard asked, nowhere it points


@dataclass(frozen=True)
class Dashboard:
    """A Ray dashboard llmops knows (never one a file names) and the token it is sent."""

    url: str
    token: str | None = field(default=None, repr=False)

    def open(self, path: str, timeout: float) -> Any:
        """GET ``path`` with the token; redirects are not followed, and a loopback dashboard is reached without a proxy."""
        request = urllib.request.Request(f"{self.url}{path}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        handlers: list[Any] = [_NoRedirect()]
        if urllib.parse.urlsplit(self.url).hostname in ("127.0.0.1", "::1", "localhost"):
            handlers.append(urllib.request.ProxyHandler({}))
        return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def _state_dir(root: Path) -> Path:
    from compiler.llmops_dir import llmops_dir  # a .llmops committed as a symlink is refused, not written through

    return llmops_dir(root, "ray")


def token_path(root: Path) -> Path:
    """The project's own token file; never a path a file names."""
    return root / ".llmops" / "ray" / "auth_token"


def _read_token(path: Path) -> str | None:
    """The token in ``path`` when it is a regular file of this user's, mode 0600 (a committed one is neither)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        token = handle.read(4096).decode("ascii", "replace").strip()
    return token or None


def own_token(root: Path) -> Path:
    """The project's token file, made afresh (mode 0600) unless a private one of this user's is there."""
    path = _state_dir(root) / "auth_token"
    if _read_token(path) is None:
        if os.path.lexists(path):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dashboard_up(dashboard: Dashboard, timeout: float = 2.0) -> bool:
    try:
        with dashboard.open("/api/version", timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode("utf-8", "surrogateescape").split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    return dict(pairs)


def verified_head(root: Path) -> tuple[ProcessIdentity, Head, dict] | str | None:
    """The head ``cluster.json`` records, proven to be this project's running one; None when there is no record,
    else why the record proves nothing (then nothing may be signalled or trusted)."""
    from compiler.safe_read import ReadRefused, read_regular

    try:
        record = json.loads(read_regular(root / ".llmops" / "ray" / RECORD, 64 * 1024))
    except FileNotFoundError:
        return None
    except (OSError, ReadRefused, ValueError, RecursionError):
        record = None
    recorded = from_json(record.get("head")) if isinstance(record, dict) else None
    if recorded is None:
        return f"{RECORD} is not a record of a cluster llmops started (it names no process identity)"
    why = mismatch(recorded, identify(recorded.pid))
    if why is None and not owned(recorded.pid):
        why = f"process {recorded.pid} runs as another user"
    head = read_head(recorded.cmdline) if why is None else None
    if why is None and head is None:
        why = f"process {recorded.pid} is not a Ray head llmops started"
    if why is None:
        started_with = _environ_of(recorded.pid).get("RAY_AUTH_TOKEN_PATH", "")
        if not started_with or os.path.realpath(started_with) != os.path.realpath(token_path(root)):
            why = f"process {recorded.pid} is the Ray head of another project"
    return why if why is not None or head is None else (recorded, head, record)


def recorded_local(root: Path) -> Cluster | None:
    """The project's local cluster when it is running (proven by its head's identity), else None."""
    found = verified_head(root)
    if not isinstance(found, tuple):
        return None
    identity, head, record = found
    serve_port = record.get("serve_port")
    if not isinstance(serve_port, int) or isinstance(serve_port, bool) or not 0 < serve_port < 65536:
        return None
    tokens = token_path(root)
    if not _dashboard_up(Dashboard(head.dashboard_url, _read_token(tokens))):
        return None
    return Cluster(head.address, head.dashboard_url, serve_port, str(tokens), identity, local=True)


def start_local(root: Path, num_cpus: int | None = None, timeout: float = 90.0, serve_port: int | None = None) -> Cluster:
    """Reuse the project's running local cluster, or start one; waits until its dashboard answers.

    ``serve_port`` is the one a new cluster records for Serve (default: a free one); a running
    cluster keeps the one it recorded (``with_serve`` asks for another)."""
    running = recorded_local(root)
    if running is not None:
        return running
    state = _state_dir(root)
    tokens = own_token(root)
    ports = HeadPorts(*(_free_port() for _ in range(6)))
    serve_port = serve_port or _free_port()
    private = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=TEMP_PARENT))  # 0700, a random name
    ray_bin = str(Path(sys.executable).with_name("ray"))
    command = head_command(ray_bin, num_cpus or os.cpu_count() or 1, ports, private)
    log = open(state / "head.log", "ab")  # noqa: SIM115 - handed to the background process
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=head_env(os.environ, str(tokens), ports),
                               start_new_session=True)
    log.close()
    head = read_head(command)
    assert head is not None  # what head_command builds, read_head reads
    dashboard = Dashboard(head.dashboard_url, _read_token(tokens))
    deadline = time.monotonic() + timeout
    while not _dashboard_up(dashboard, timeout=1.0):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop_started(process, private)
            raise NodeFailed("the local Ray cluster did not start",
                             f"see {state / 'head.log'}; or run apply on a cluster with --address", retryable=False)
        time.sleep(0.5)
    identity = identify(process.pid)
    if identity is None or process.poll() is not None:
        _stop_started(process, private)
        raise NodeFailed("the local Ray cluster stopped as it started", f"see {state / 'head.log'}", retryable=False)
    record = {"head": identity.to_json(), "serve_port": serve_port,
              "address": head.address, "dashboard_url": head.dashboard_url}  # the last two for people: never read back
    write_atomic(state / RECORD, json.dumps(record, indent=2) + "\n")
    return Cluster(head.address, head.dashboard_url, serve_port, str(tokens), identity, local=True)


def _stop_started(process: subprocess.Popen, private: Path) -> None:
    """Stop a head this call started (its session), and remove its temp dir."""
    _stop_session(process.pid, lambda: process.poll() is None)
    shutil.rmtree(private, ignore_errors=True)


def _stop_session(sid: int, head_alive: Callable[[], bool], grace: float = 15.0) -> None:
    """SIGTERM the head's session (the head, Ray's processes, its workers), then SIGKILL what is left of it.

    ``sid`` is a head's pid that was proven ours; the session outlives the head while any of its members runs.
    """
    signal_session(sid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and head_alive():
        time.sleep(0.2)
    deadline = time.monotonic() + 10.0
    while session_members(sid) and time.monotonic() < deadline:
        signal_session(sid, signal.SIGKILL)
        time.sleep(0.2)


def stop_local(root: Path) -> tuple[bool, str | None]:
    """Stop the project's local cluster (deployments on it stop serving): (stopped, why nothing was signalled)."""
    found = verified_head(root)
    if not isinstance(found, tuple):
        return False, found and f"nothing was signalled: {found}"
    identity, head, _ = found
    _stop_session(identity.pid, lambda: mismatch(identity, identify(identity.pid)) is None)
    private = head.private_dir  # from the verified command line; made by mkdtemp, so a real folder of this user's
    try:
        info = os.lstat(private)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            shutil.rmtree(private, ignore_errors=True)
    except OSError:
        pass
    (root / ".llmops" / "ray" / RECORD).unlink(missing_ok=True)
    return True, None


def known_dashboard(root: Path, address: str | None = None, environ: Mapping[str, str] | None = None) -> Dashboard | str:
    """The dashboard of the cluster apply would use, or why none is known (then nothing is asked).

    ``RAY_DASHBOARD_ADDRESS`` (as Ray Serve's CLI reads it) for an existing cluster, with the
    token configured for Ray; else, when no existing cluster is named (``address``,
    ``RAY_ADDRESS``), the project's local cluster, proven by its head's identity, with the
    project's token. Never a URL from the lock or any other file of the checkout.
    """
    environ = os.environ if environ is None else environ
    explicit = (environ.get("RAY_DASHBOARD_ADDRESS") or "").strip().rstrip("/")
    if explicit:
        url = explicit if "://" in explicit else f"http://{explicit}"
        if not url.startswith(("http://", "https://")):
            return f"RAY_DASHBOARD_ADDRESS is not an http(s) address: {explicit[:100]}"
        return Dashboard(url, _environ_token(environ))
    if address or environ.get("RAY_ADDRESS"):
        return ("the Ray cluster is named (RAY_ADDRESS or --address) but not its dashboard: "
                "set RAY_DASHBOARD_ADDRESS (e.g. http://head:8265)")
    local = recorded_local(root)
    if local is None:
        return ("no Ray cluster is known: this project's local cluster is not running, "
                "and RAY_DASHBOARD_ADDRESS names no other")
    return Dashboard(local.dashboard_url, _read_token(token_path(root)))


def _environ_token(environ: Mapping[str, str]) -> str | None:
    """The token the user configured for Ray: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH names."""
    token = (environ.get("RAY_AUTH_TOKEN") or "").strip()
    if token:
        return token
    path = environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            return Path(path).read_text().strip() or None
        except OSError:
            return None
    return None


def existing(address: str, serve_port: int = 8000) -> Cluster:
    """A cluster someone else runs; its dashboard URL is learned on connect."""
    return Cluster(address=address, dashboard_url="", serve_port=serve_port)


def with_serve(cluster: Cluster, host: str | None, port: int | None) -> Cluster:
    """``cluster`` with Serve's HTTP address as the user asked (``--serve-host``, ``--serve-port``); as it is when neither."""
    if host is None and port is None:
        return cluster
    return replace(cluster, serve_host=host or cluster.serve_host, serve_port=port or cluster.serve_port, serve_asked=True)


def serve_host_problem(host: str) -> str | None:
    """Pure: why ``host`` cannot be Serve's HTTP host (an IP address literal or a DNS name); None when it can."""
    import ipaddress
    import re

    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if len(host) <= 253 and re.fullmatch(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*", host):
        return None
    return f"{host[:100]!r} is not an IP address or a host name"


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
            cluster = replace(cluster, dashboard_url=url if url.startswith("http") else f"http://{url}")
    return cluster
