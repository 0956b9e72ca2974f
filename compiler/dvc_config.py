"""DVC's project config (``.dvc/config``, ``.dvc/config.local``) read as text: where artifacts go.

DVC writes configobj's format (``[core]``, ``['remote "name"']``, indented options). This
reads it with the standard library, without DVC, so that the commands that run without the
run extra (``policy check --base`` in a pull request) read it as apply's preflight does
(runners/remote.py ``configured_url``). Pure.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field

_REMOTE = re.compile(r'remote\s+"(.+)"')


@dataclass(frozen=True)
class RemoteConfig:
    """The remote-related sections of one DVC config: ``core``'s ``remote`` (when it has a ``[core]``) and each remote."""

    core: dict[str, str] | None = None                           # {"remote": name} or {}; None without [core]
    remotes: dict[str, dict[str, str]] = field(default_factory=dict)  # remote name -> its options
    lines: dict[str, int] = field(default_factory=dict)         # section as shown ("core", 'remote "x"') -> its line


def read_remote_config(text: str) -> RemoteConfig | None:
    """The remote sections of ``text``; None when it does not read as a config."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, inline_comment_prefixes=("#",))
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    starts = {line.strip(): number for number, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[")}
    core, remotes, lines = None, {}, {}
    for section in parser.sections():
        name = section.strip("'")  # configobj's quoting of a name with a space
        match = _REMOTE.fullmatch(name)
        if name == "core":
            core = {k: v for k, v in parser.items(section) if k == "remote"}
        elif match:
            remotes[match[1]] = dict(parser.items(section))
        else:
            continue
        lines[name] = starts.get(f"[{section}]", 1)
    return RemoteConfig(core, remotes, lines)
