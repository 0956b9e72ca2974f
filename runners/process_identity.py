"""Who a process is: its pid, its start time and its command line, read from ``/proc``.

A pid alone names nobody: pids are reused, and a file that records one (``.llmops/ray/
cluster.json`` lives in the checkout, so a pull request can commit it) can name any process,
``1`` included. llmops records the identity of a process it starts, and signals or trusts a
recorded process only while all three still match the live one: the start time (clock ticks
since boot, ``/proc/<pid>/stat`` field 22) changes when the pid is reused, and the command
line is what llmops itself ran. ``mismatch`` is the pure decision; ``identify`` reads ``/proc``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MAX_CMDLINE = 64 * 1024  # Linux caps what /proc shows of argv well below this


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: int                 # clock ticks after boot
    cmdline: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time, "cmdline": list(self.cmdline)}


def from_json(value: Any) -> ProcessIdentity | None:
    """A recorded identity from untrusted JSON; None unless every field has the right type."""
    if not isinstance(value, dict):
        return None
    pid, start, cmdline = value.get("pid"), value.get("start_time"), value.get("cmdline")
    if not (_positive_int(pid) and _positive_int(start) and isinstance(cmdline, list) and cmdline
            and all(isinstance(arg, str) for arg in cmdline)):
        return None
    return ProcessIdentity(pid, start, tuple(cmdline))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def identify(pid: int, proc: Path = Path("/proc")) -> ProcessIdentity | None:
    """The live process ``pid`` (None when it does not run, is a zombie, or is not ours to read)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces and ')'
        with open(proc / str(pid) / "cmdline", "rb") as handle:
            raw = handle.read(_MAX_CMDLINE)
    except (OSError, IndexError):
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X") or not raw:
        return None
    cmdline = tuple(arg.decode("utf-8", "surrogateescape") for arg in raw.rstrip(b"\0").split(b"\0"))
    return ProcessIdentity(pid, int(fields[19]), cmdline)


def mismatch(recorded: ProcessIdentity, live: ProcessIdentity | None) -> str | None:
    """Pure: why ``live`` is not the process ``recorded`` names (None when pid, start time and command line match)."""
    if live is None or live.pid != recorded.pid:
        return f"no process {recorded.pid} runs"
    if live.start_time != recorded.start_time:
        return f"process {recorded.pid} is another process than the one recorded (it started at another time)"
    if live.cmdline != recorded.cmdline:
        return f"process {recorded.pid} runs another command than the one recorded ({_shown(live.cmdline)})"
    return None


def owned(pid: int, proc: Path = Path("/proc")) -> bool:
    """True when ``pid`` runs as this user (a process of another user is never ours to signal)."""
    try:
        return os.stat(proc / str(pid)).st_uid == os.getuid()
    except OSError:
        return False


def _stat(pid: int, proc: Path) -> list[str] | None:
    """``/proc/<pid>/stat`` after the name: state, ppid, pgrp, session, ... (None when it does not run)."""
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 3 and fields[0] not in ("Z", "X") else None


def session_members(sid: int, proc: Path = Path("/proc")) -> list[int]:
    """The live processes of session ``sid``: a head started in a session of its own, and all it started.

    Ray's workers run in process groups of their own, but stay in the head's session. A
    session id is not handed to a new process while a member of the session lives.
    """
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name), proc)
            if fields is not None and fields[3] == str(sid):
                members.append(int(entry.name))
    return members


def signal_session(sid: int, sig: int) -> int:
    """Send ``sig`` to every live member of session ``sid``; how many were signalled.

    Each member is pinned with a pidfd, then checked to be in the session, then signalled
    through the pidfd: a pid that exits and is reused in between is never signalled.
    """
    import signal as signals

    sent = 0
    for pid in session_members(sid):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue  # it exited since
        try:
            fields = _stat(pid, Path("/proc"))
            if fields is not None and fields[3] == str(sid):
                signals.pidfd_send_signal(fd, sig)
                sent += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return sent


def _shown(cmdline: tuple[str, ...], limit: int = 120) -> str:
    text = " ".join(cmdline)
    return text if len(text) <= limit else text[: limit - 3] + "..."
