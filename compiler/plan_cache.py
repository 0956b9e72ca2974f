"""The whole compilation behind ``llmops plan``, cached: dbt's partial parsing, SQLMesh's snapshot cache.

A warm plan spent its time importing pydantic, jinja2 and ruamel and re-validating specs
that had not changed. Planning needs far less than a compilation: the warnings, the
graph's nodes and every node's Fingerprint. Those are kept here as plain data (marshal)
under a key over everything a compilation reads:

* the code: every module of ``compiler`` and ``llmops_spec`` by stat signature (which
  stands in for the llmops version: any install or edit changes it), ``STEP_CODE_VERSIONS``,
  the Python version, and the installed pydantic, ruamel.yaml, jinja2, orjson, CEL engines
  and detect-secrets (where each lives, and the folder that holds it);
* the spec files: each one's path and sha256 (their ``specs_digest``), read and hashed
  afresh on every run, as the benchmark's floor does;
* the data the fingerprints read: where each dataset path resolves, and the stat
  signature (size, mtime_ns, inode) of the file, of every file of a folder, and of its
  ``.dvc`` file, present or absent.

On a hit, ``plan`` imports none of pydantic, the spec models, jinja2 or ruamel. A miss, or
``--no-cache``, compiles in full and refreshes the cache. A compilation with errors is
never cached, and neither is one whose data moved while it was read, or was modified too
recently for its mtime to tell a later change apart (git's "racily clean" files).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from compiler.cache_dir import cache_dir
from compiler.compile import Compilation, Drift, plan_against_lock
from compiler.diagnostics import Diagnostic, Severity
from compiler.discover import find_spec_paths, project_root
from compiler.fingerprint import STEP_CODE_VERSIONS, Fingerprint
from compiler.installed import library_signature, package_folder, stat_signature
from compiler.parse_cache import write_cache_file
from compiler.paths import resolve_inside, walk_inside
from compiler.plan import Plan, specs_digest
from compiler.safe_read import MAX_SPEC_BYTES, ReadRefused, read_regular

CACHE_VERSION = 1
_MAGIC = f"llmops-plan-{CACHE_VERSION}-{sys.version_info[0]}.{sys.version_info[1]}"
RACY_NS = 2_000_000_000
"""Data modified within this long before a compilation read it is not trusted to a cache: a
later change in the same clock tick would leave its stat signature as it was."""
_DEPENDENCIES = ("pydantic", "pydantic_core", "ruamel", "_ruamel_yaml", "jinja2", "orjson", "cel", "cel_expr_python",
                 "detect_secrets")
_CODE = ("compiler", "llmops_spec")  # one distribution: the spec language sits beside the compiler


# The types below are NamedTuples, like ``Ref``: immutable values that cost a tenth of a frozen
# dataclass to define, which a cached plan does on every start, and less to build 10,000 times.


class PlanNode(NamedTuple):
    """A graph node as planning sees it: the resource as its ``Kind/name`` string, not a ``Ref``."""

    id: str
    step: str
    resource: str
    inputs: tuple[str, ...] = ()


class PlanGraph(NamedTuple):
    """The graph's nodes in topological order (a ``compiler.plan.GraphView``), with no spec model behind them."""

    nodes: dict[str, PlanNode]


class PlanInputs(NamedTuple):
    """What planning needs from a compiled project, as plain data; a compilation with errors has none."""

    root: Path
    specs_digest: str
    diagnostics: list[Diagnostic]  # warnings
    graph: PlanGraph
    fingerprints: dict[str, Fingerprint]


class Planned(NamedTuple):
    """A plan (None when the specs or the lock have errors), its diagnostics, and where it came from.

    ``compilation`` is the full compilation when there was one (a miss): what else the command
    shows (the policy verdict) can reuse it instead of compiling the specs a second time.
    """

    root: Path
    plan: Plan | None
    diagnostics: list[Diagnostic]
    graph: PlanGraph | None
    cached: bool
    compilation: Compilation | None = None


def plan_path(path: Path, use_cache: bool = True, drift: Drift | None = None) -> Planned:
    """The plan of the specs under ``path`` against their lock, from the cache when nothing it depends on moved."""
    compilation = None
    inputs = load_inputs(path) if use_cache else None
    if inputs is None:
        compilation, inputs = compile_inputs(path, use_cache)
        if inputs is None:
            return Planned(compilation.project.root, None, compilation.diagnostics, None, False, compilation)
    plan, diagnostics = plan_against_lock(inputs.root, inputs.graph, inputs.fingerprints, inputs.specs_digest,
                                          inputs.diagnostics, drift=drift)
    return Planned(inputs.root, plan, diagnostics, inputs.graph, compilation is None, compilation)


def compile_inputs(path: Path, use_cache: bool = True) -> tuple[Compilation, PlanInputs | None]:
    """Compile in full and fingerprint; cache the result when it can be trusted. No inputs when there are errors."""
    from compiler.compile import compile_project
    from compiler.fingerprint import data_sources, fingerprint_graph

    compilation = compile_project(path, use_cache=use_cache)
    if not compilation.ok:
        return compilation, None
    project, graph = compilation.project, compilation.graph
    sources = sorted({s for node in graph.nodes.values() for s in data_sources(project, node)})
    started = time.time_ns()
    before = data_state(project.root, sources)
    prints = fingerprint_graph(project, graph)
    after = data_state(project.root, sources)
    nodes = {nid: PlanNode(nid, node.step, str(node.resource), node.inputs) for nid, node in graph.nodes.items()}
    inputs = PlanInputs(project.root, project.specs_digest, compilation.diagnostics, PlanGraph(nodes), prints)
    if before == after and _trusted(after, started):
        try:
            key = cache_key(path, project.root, inputs.specs_digest, after)
        except OSError:  # the code's own files cannot be found: nothing to key a cache on
            return compilation, inputs
        save(project.root, key, sources, inputs)
    return compilation, inputs


def load_inputs(path: Path) -> PlanInputs | None:
    """The cached inputs when the key still matches: specs read and hashed, data stat'ed; None on any doubt."""
    try:
        if not path.exists():
            return None
        root = project_root(path)
        with open(cache_path(root), "rb") as handle:
            magic, key, sources, payload = marshal.loads(handle.read())
        if magic != _MAGIC:
            return None
        digest = _current_specs_digest(path, root)
        if digest is None or cache_key(path, root, digest, data_state(root, sources)) != key:
            return None
        return _decode(root, digest, marshal.loads(payload))
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def cache_path(root: Path) -> Path:
    return cache_dir(root) / "plan.marshal"


def cache_key(path: Path, root: Path, digest: str, data: tuple) -> str:
    """One hash over the code, what was asked for, the spec files' content and the data's stat signatures."""
    body = (_MAGIC, code_state(), str(path.resolve()), str(root), digest, data)
    return hashlib.sha256(repr(body).encode()).hexdigest()  # not marshal: its bytes depend on object sharing


def _current_specs_digest(path: Path, root: Path) -> str | None:
    """``specs_digest`` of the spec files as they are now; None when one cannot be read as the loader would."""
    base = str(root).rstrip(os.sep) + os.sep
    files: dict[str, str] = {}
    for text in find_spec_paths(path.resolve()):
        if not text.startswith(base):  # the loader names such a file differently: leave it to a compilation
            return None
        try:  # as the loader reads it (compiler/safe_read.py): a FIFO or a link out is left to a compilation
            raw = read_regular(text, MAX_SPEC_BYTES, root)
        except ReadRefused:
            return None
        files[text[len(base):].replace(os.sep, "/")] = hashlib.sha256(raw).hexdigest()
    return specs_digest(files)


def data_state(root: Path, sources: list[str]) -> tuple:
    """Per data path: where it resolves, and the signatures of its ``.dvc`` file and of the file or folder's files."""
    state = []
    for source in sources:
        target = resolve_inside(root, source)
        if target is None:
            state.append((source, None, None, None))
            continue
        text = str(target)
        own = stat_signature(text)
        if own is not None and stat.S_ISDIR(own[0]):  # the files data_md5 would read, and what it would refuse
            files, refused = walk_inside(root, target)
            own = tuple((p.relative_to(target).as_posix(), stat_signature(str(p))) for p in files)
            own += tuple((r.path.relative_to(target).as_posix(), r.code) for r in refused)
        state.append((source, text, stat_signature(text + ".dvc"), own))
    return tuple(state)


def _mtimes(entry: Any) -> list[int]:
    """Every mtime in one source's state: a signature, a folder's (name, signature or refusal code) pairs, or None."""
    if not entry or isinstance(entry, str):
        return []
    if isinstance(entry[0], int):
        return [entry[2]]
    return [m for _, sig in entry for m in _mtimes(sig)]


def _trusted(state: tuple, started_ns: int) -> bool:
    """Every source was there as the checks said, and none was modified too recently for its mtime to tell."""
    for _, target, dvc, own in state:
        if target is None or (dvc is None and own is None):
            return False
        if any(m >= started_ns - RACY_NS for m in _mtimes(dvc) + _mtimes(own)):
            return False
    return True


def code_state() -> tuple:
    """What the compiler's output depends on besides the specs and data: its code and the libraries it runs on."""
    files = []
    for package in _CODE:
        folder = package_folder(package)
        if folder is None:
            raise FileNotFoundError(f"cannot find the package {package}")  # load_inputs: a miss
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            files.extend((os.path.join(dirpath, name), stat_signature(os.path.join(dirpath, name)))
                         for name in sorted(filenames) if name.endswith(".py"))
    libraries = [library_signature(name) for name in _DEPENDENCIES]
    return (sorted(STEP_CODE_VERSIONS.items()), files, libraries)


def save(root: Path, key: str, sources: list[str], inputs: PlanInputs) -> None:
    """The payload is marshalled apart, so a miss reads the key without decoding 10,000 fingerprints."""
    write_cache_file(cache_path(root), marshal.dumps((_MAGIC, key, sources, marshal.dumps(_encode(inputs)))))


def _encode(inputs: PlanInputs) -> tuple:
    diagnostics = [(d.file, d.line, d.col, d.code, d.severity.value, d.message, d.hint) for d in inputs.diagnostics]
    nodes = []
    for nid, node in inputs.graph.nodes.items():
        fp = inputs.fingerprints[nid]
        nodes.append((nid, node.step, node.resource, node.inputs, fp.value, fp.step, fp.code, fp.spec, fp.inputs, fp.data))
    return (diagnostics, nodes)


def _decode(root: Path, digest: str, payload: tuple) -> PlanInputs:
    diagnostics, rows = payload
    nodes: dict[str, PlanNode] = {}
    prints: dict[str, Fingerprint] = {}
    for nid, step, resource, inputs, value, fp_step, code, spec, fp_inputs, data in rows:
        nodes[nid] = PlanNode(nid, step, resource, inputs)
        prints[nid] = Fingerprint(value, fp_step, code, spec, fp_inputs, data)
    found = [Diagnostic(file, line, col, code, Severity(severity), message, hint)
             for file, line, col, code, severity, message, hint in diagnostics]
    return PlanInputs(root, digest, found, PlanGraph(nodes), prints)
