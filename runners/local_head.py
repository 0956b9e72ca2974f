"""The project's local Ray head: the ``ray start`` command that starts it, and reading that command back.

Pure. Every listener of the embedded cluster is on 127.0.0.1:

- ``--node-ip-address=127.0.0.1`` alone is not enough: ``ray start`` replaces a loopback
  address with the machine's address unless Ray runs in its single-machine mode (the mode
  it uses on macOS and Windows), which ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` selects. In
  it the node's address is 127.0.0.1, and Ray binds each server to that address: the GCS,
  the raylet (node and object manager), every worker's gRPC server, the dashboard agent
  (gRPC and HTTP), the runtime-env agent, and the dashboard's and autoscaler's Prometheus
  ports. The dashboard has its own ``--dashboard-host``.
- the Ray Client server cannot be left out (``ray start`` refuses port 0 for it): it
  listens on 127.0.0.1 too, behind the token, on a port chosen free here (Ray's 10001 is
  fixed: two clusters would collide).
- metrics export is off (``RAY_enable_metrics_collection=0``): the agent's Prometheus port,
  which answers without a token, is not opened. The dashboard's and the autoscaler's own
  metrics ports cannot be turned off; they answer on 127.0.0.1 only, read-only, on ports
  chosen free here rather than Ray's fixed 44227 / 44217.

Two listeners of Ray Serve are not the head's to configure: Serve's HTTP proxy is started
on 127.0.0.1 by the deploy step (runners/steps/deploy.py), and each replica's
inter-deployment gRPC server binds ``[::]`` (hard-coded in Ray Serve 2.60), where Ray's
token authentication guards it (docs/apply.md).

The temp dir is private: a fresh ``mkdtemp`` folder (mode 0700, a random name) under
``/tmp`` (Ray's Unix socket paths must stay short, so not inside the repository), with
Ray's own temp dir one level below it, because Ray makes its temp dir mode 0777.

``read_head`` parses a live process's command line back into the ports and temp dir:
what a recorded cluster is reached at comes from the verified process, never from the
record's fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TEMP_PARENT = Path("/tmp")
TEMP_PREFIX = "llmops-ray-"
RAY_TEMP = "ray"  # Ray's --temp-dir, inside the private folder
LOOPBACK = "127.0.0.1"
# Ray's single-machine mode, for the head and for every process that joins it: in it Ray keeps a loopback
# address as it is, where otherwise it would turn 127.0.0.1 into the machine's address (which nothing listens on)
SINGLE_MACHINE = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass(frozen=True)
class HeadPorts:
    gcs: int
    dashboard: int
    agent_http: int                  # the dashboard agent's HTTP port (Ray's default 52365 is fixed: clusters would collide)
    client_server: int               # the Ray Client server (Ray's default 10001, the same)
    dashboard_metrics: int
    autoscaler_metrics: int


@dataclass(frozen=True)
class Head:
    """What a head's command line says: where it answers and where its files are."""

    gcs_port: int
    dashboard_port: int
    private_dir: Path                # the 0700 folder llmops made; Ray's temp dir is inside it

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{LOOPBACK}:{self.dashboard_port}"


def head_command(ray_bin: str, num_cpus: int, ports: HeadPorts, private_dir: Path) -> list[str]:
    return [ray_bin, "start", "--head", "--block", f"--port={ports.gcs}", f"--node-ip-address={LOOPBACK}",
            f"--num-cpus={num_cpus}", "--include-dashboard=true", f"--dashboard-host={LOOPBACK}",
            f"--dashboard-port={ports.dashboard}", f"--dashboard-agent-listen-port={ports.agent_http}",
            f"--ray-client-server-port={ports.client_server}", f"--temp-dir={private_dir / RAY_TEMP}", "--disable-usage-stats"]


def head_env(base: Mapping[str, str], token_path: str, ports: HeadPorts) -> dict[str, str]:
    """The head's environment: the project's token, Ray's single-machine mode, no metrics export, no drain on stop."""
    env = {k: v for k, v in base.items() if k not in ("RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_path, **SINGLE_MACHINE,
                "RAY_enable_metrics_collection": "0",
                "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # `down` stops the whole cluster: nothing to drain to
                "DASHBOARD_METRIC_PORT": str(ports.dashboard_metrics),
                "AUTOSCALER_METRIC_PORT": str(ports.autoscaler_metrics)})
    return env


def read_head(cmdline: Sequence[str]) -> Head | None:
    """Pure: the head a command line starts, when it is one ``head_command`` builds; None for anything else."""
    args = list(cmdline)
    try:
        start = args.index("start")
    except ValueError:
        return None
    if not (start >= 1 and Path(args[start - 1]).name == "ray" and {"--head", "--block"} <= set(args[start:])
            and f"--node-ip-address={LOOPBACK}" in args and f"--dashboard-host={LOOPBACK}" in args):
        return None
    values = dict(arg[2:].split("=", 1) for arg in args[start + 1:] if arg.startswith("--") and "=" in arg)
    gcs, dashboard, temp = _port(values.get("port")), _port(values.get("dashboard-port")), values.get("temp-dir")
    if gcs is None or dashboard is None or temp is None:
        return None
    ray_temp = Path(temp)
    private = ray_temp.parent
    if ray_temp.name != RAY_TEMP or private.parent != TEMP_PARENT or not private.name.startswith(TEMP_PREFIX):
        return None
    return Head(gcs, dashboard, private)


def _port(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and 0 < int(text) < 65536 else None
