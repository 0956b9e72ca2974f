"""A real 3-node Ray cluster on this machine whose workers do not share the driver's disk.

The head (0 CPUs) is the project's own kind of head (runners/local_head.py: every listener
on 127.0.0.1, a private temp dir, token auth); each of the two worker nodes is ``ray start
--address=HEAD --num-cpus=2 --block``. Every node runs inside a mount namespace of its own,
where an empty tmpfs covers every ``hidden`` folder (the projects, and so their DVC caches):
what the driver writes there, no node sees, as on a cluster of several machines (the head
too: a task that asks for no CPU may run there). Folders outside
``hidden`` (the DVC remote, standing in for object storage; the code; the venv) stay visible.
The mounts die with the namespace, so nothing is left mounted.

Addresses. ``ray start --address`` turns ``127.0.0.1`` into the machine's address (its
single-machine mode, which would keep it, refuses to join a cluster), so each worker sees the
head as ``llmops-nsd-head``, a name its namespace's own ``/etc/hosts`` (a bind mount) maps to
127.0.0.1. The workers are at 127.0.0.2 and 127.0.0.3 (loopback: nothing leaves the machine);
outside the single-machine mode Ray binds a few of a worker's servers (raylet, object manager,
agent gRPC) on every interface, behind the cluster's token, as on any multi-node cluster.

Layouts: a worker's tmpfs is empty, or (``own_checkout``) holds a copy of a folder of
committed files, as a worker with its own git clone. ``env`` (AWS credentials for an S3
remote) goes to every node and to every driver command.

Every process starts in a session of its own; ``stop`` and ``kill_worker`` signal exactly
those sessions (SIGTERM, a grace period, SIGKILL), never ``ray stop``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3_server import free_ports

from runners.local_head import SINGLE_MACHINE, HeadPorts, head_command, head_env
from runners.process_identity import session_members, signal_session

HEAD_NAME = "llmops-nsd-head"  # the head's name inside each worker's namespace (its /etc/hosts maps it to 127.0.0.1)
WORKER_IPS = ("127.0.0.2", "127.0.0.3")
OBJECT_STORE_BYTES = 300 * 1024 * 1024  # per node: the machine is shared, and the artifacts are small
FAST_FAILURE = {  # a killed node is declared dead in seconds, not the default half a minute
    "RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3",
}
RAY = str(Path(sys.executable).with_name("ray"))
LLMOPS = str(Path(sys.executable).with_name("llmops"))


@dataclass
class Worker:
    name: str                    # "a" or "b"
    ip: str
    process: subprocess.Popen    # unshare -> sh -> ray start --block: one pid, the leader of its session
    log: Path

    @property
    def alive(self) -> bool:
        return bool(session_members(self.process.pid))


@dataclass
class NsdCluster:
    folder: Path                 # the cluster's private folder: Ray's temp dir, logs, the workers' hosts file
    hidden: tuple[Path, ...]     # an empty tmpfs on every node (a worker's first: its own checkout, if any)
    address: str                 # the GCS, as the driver reaches it
    dashboard_url: str
    token: Path
    head: subprocess.Popen
    workers: dict[str, Worker]
    extra_env: dict[str, str] = field(default_factory=dict)
    _scripts: int = 0

    # ----- the driver's side ------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment of a driver command: this cluster's token, its dashboard, the extra env (credentials)."""
        base = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
        return {**base, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token), **SINGLE_MACHINE,
                "RAY_DASHBOARD_ADDRESS": self.dashboard_url, **self.extra_env}

    def llmops(self, *args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
        """``llmops ARGS`` as a user on the driver machine runs it (the console script), output captured."""
        return subprocess.run([LLMOPS, *args], cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout)

    def apply(self, target: str, *more: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
        """``llmops apply TARGET --address HEAD -y``."""
        return self.llmops("apply", target, *more, "--address", self.address, "-y", cwd=cwd, timeout=timeout)

    def apply_in_background(self, target: str, *more: str, cwd: Path, log: Path) -> subprocess.Popen:
        """The same apply, running: its output goes to ``log``; the caller waits for it (and kills it on failure)."""
        with open(log, "wb") as out:
            return subprocess.Popen([LLMOPS, "apply", target, *more, "--address", self.address, "-y"], cwd=cwd,
                                    env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def python(self, code: str, timeout: float = 180) -> Any:
        """Run ``code`` as a fresh driver joined to the cluster (``ray`` imported, ``ray.init`` done); what it
        assigns to ``result`` comes back (JSON)."""
        self._scripts += 1
        script = self.folder / f"driver-{self._scripts}.py"
        script.write_text(textwrap.dedent("""
            import json, sys, ray
            ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False, configure_logging=False)
            result = None
        """) + textwrap.dedent(code) + textwrap.dedent("""
            ray.shutdown()
            print("\\n@@result@@" + json.dumps(result))
        """))
        done = subprocess.run([sys.executable, str(script), self.address], cwd=self.folder, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or "@@result@@" not in done.stdout:
            raise RuntimeError(f"driver script failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-4000:]}")
        return json.loads(done.stdout.rsplit("@@result@@", 1)[1])

    # ----- what ran where ---------------------------------------------------------------------------------------
    def nodes(self) -> list[dict[str, Any]]:
        """Every node Ray knows: id, ip, alive, CPUs."""
        return self.python("""
            result = [{"id": n["NodeID"], "ip": n["NodeManagerAddress"], "alive": n["Alive"],
                       "cpus": n["Resources"].get("CPU", 0)} for n in ray.nodes()]
        """)

    def tasks(self) -> list[dict[str, Any]]:
        """Every task attempt the state API lists: task id, name, state, node ip, the worker ("a", "b", or "head"), attempt."""
        rows = self.python("""
            from ray.util.state import list_nodes, list_tasks
            ips = {n.node_id: n.node_ip for n in list_nodes(address=sys.argv[1], raise_on_missing_output=False)}
            result = [{"id": t.task_id, "name": t.name, "state": t.state, "ip": ips.get(t.node_id), "attempt": t.attempt_number,
                       "type": t.type} for t in list_tasks(address=sys.argv[1], limit=10000, raise_on_missing_output=False, detail=True)]
        """)
        by_ip = {w.ip: name for name, w in self.workers.items()}
        for row in rows:
            row["worker"] = by_ip.get(row["ip"], "head" if row["ip"] else None)
        return rows

    def running_on(self) -> set[str]:
        """The workers ("a", "b") where a normal (non-actor) task is running now."""
        return {t["worker"] for t in self.tasks() if t["state"] == "RUNNING" and t["type"] == "NORMAL_TASK"
                and t["worker"] in self.workers}

    # ----- faults -----------------------------------------------------------------------------------------------
    def kill_worker(self, name: str) -> None:
        """SIGKILL worker ``name``'s whole session (its raylet, its task processes): the node is lost at once."""
        _stop_session(self.workers[name].process, grace=0.0)

    def stop(self) -> None:
        """Stop the workers, then the head (their sessions only), and remove the private folder (kept, with Ray's
        logs, when LLMOPS_NSD_KEEP is set)."""
        for worker in self.workers.values():
            _stop_session(worker.process)
        _stop_session(self.head)
        if not os.environ.get("LLMOPS_NSD_KEEP"):
            shutil.rmtree(self.folder, ignore_errors=True)


    def leftovers(self) -> list[str]:
        """What of this cluster is still there: a live process of its sessions, a mount of a hidden folder that a
        process anywhere still sees (empty once ``stop`` returns)."""
        sessions = [self.head.pid, *(w.process.pid for w in self.workers.values())]
        found = [f"process {pid} of session {sid}" for sid in sessions for pid in session_members(sid)]
        hidden = {str(p) for p in self.hidden}
        for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
            try:
                points = {line.split()[4] for line in mountinfo.read_text().splitlines()}
            except (OSError, IndexError):
                continue  # it exited since
            found += [f"{point} mounted for process {mountinfo.parent.name}" for point in sorted(points & hidden)]
        return found


def _stop_session(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the session ``process`` leads (every process Ray started under it), then SIGKILL what is left."""
    sid = process.pid
    if grace > 0:
        signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and session_members(sid):
            time.sleep(0.2)
    deadline = time.monotonic() + 15.0
    while session_members(sid) and time.monotonic() < deadline:
        signal_session(sid, signal.SIGKILL)
        time.sleep(0.2)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass


def _node_script(hidden: Sequence[Path], hosts: Path, own_checkout: Path | None, ray_args: list[str]) -> str:
    """The shell line a node's namespace runs: tmpfs over each hidden folder, the head's name, then exec ray."""
    steps = [f"mount -t tmpfs -o mode=0755 llmops-nsd {shlex.quote(str(p))}" for p in hidden]
    steps.append(f"mount --bind {shlex.quote(str(hosts))} /etc/hosts")
    if own_checkout is not None:
        steps.append(f"cp -a {shlex.quote(str(own_checkout))}/. {shlex.quote(str(hidden[0]))}/")
    steps.append("cd /")  # never a hidden folder's old contents through the cwd
    steps.append("exec " + shlex.join(ray_args))
    return " && ".join(steps)


def start(hidden: Sequence[Path], token: Path, *, own_checkout: Path | None = None, env: dict[str, str] | None = None,
          worker_cpus: int = 2, timeout: float = 180.0) -> NsdCluster:
    """Start the head and two namespaced workers; return once Ray lists all three nodes alive.

    ``hidden`` must exist; ``own_checkout`` (a folder outside them) is copied into the first on each worker.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise RuntimeError("the no-shared-disk cluster needs root and unshare (mount namespaces)")
    hidden = tuple(Path(p).resolve() for p in hidden)
    for path in hidden:
        if not path.is_dir():
            raise ValueError(f"hidden folder {path} does not exist")
    folder = Path(tempfile.mkdtemp(prefix="llmops-nsd-", dir="/tmp"))  # short: Ray's socket paths live in it
    extra = dict(env or {})
    base = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")} | extra | FAST_FAILURE
    ports = HeadPorts(*free_ports(6))
    command = head_command(RAY, 0, ports, folder) + [f"--object-store-memory={OBJECT_STORE_BYTES}"]
    head_log = folder / "head.log"
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {HEAD_NAME}\n::1 localhost\n")
    with open(head_log, "wb") as log:  # the head is another machine too: a 0-CPU task there sees no project either
        head = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                 _node_script(hidden, hosts, None, command)],
                                stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True,
                                env=head_env(base, str(token), ports))
    cluster = NsdCluster(folder, hidden, f"127.0.0.1:{ports.gcs}", f"http://127.0.0.1:{ports.dashboard}", token, head,
                         {}, extra)
    try:
        _wait_for(cluster, 1, head, head_log, timeout)
        worker_env = {**base, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                      "RAY_enable_metrics_collection": "0"}
        for name, ip in zip("ab", WORKER_IPS, strict=True):
            node_manager, object_manager, metrics, agent, agent_grpc, runtime_env = free_ports(6)
            ray_args = [RAY, "start", "--block", f"--address={HEAD_NAME}:{ports.gcs}", f"--node-ip-address={ip}",
                        f"--num-cpus={worker_cpus}", f"--object-store-memory={OBJECT_STORE_BYTES}",
                        f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
                        f"--metrics-export-port={metrics}", f"--dashboard-agent-listen-port={agent}",
                        f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
                        "--disable-usage-stats"]
            log_path = folder / f"worker-{name}.log"
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    ["unshare", "-m", "--propagation", "private", "sh", "-c",
                     _node_script(hidden, hosts, own_checkout, ray_args)],
                    stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True, env=worker_env)
            cluster.workers[name] = Worker(name, ip, process, log_path)
            _wait_for(cluster, 1 + len(cluster.workers), process, log_path, timeout)  # one at a time: 2 cores
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for(cluster: NsdCluster, alive: int, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``alive`` nodes are alive (asked of Ray by a driver); a failure names the log of ``process``."""
    deadline = time.monotonic() + timeout
    why = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if sum(1 for n in cluster.nodes() if n["alive"]) >= alive:
                return
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            why = str(exc)[-1500:]
        time.sleep(1.0)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"the no-shared-disk cluster did not reach {alive} nodes: {tail}\n{why}")
