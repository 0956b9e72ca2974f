"""Loading a project: spec files on disk to resources, with every diagnostic collected."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from compiler.diagnostics import Diagnostic, error, warning
from compiler.discover import find_spec_files, project_root
from compiler.parse_cache import load_cache, save_cache
from compiler.plan import specs_digest
from compiler.resources import Resource, to_resource
from compiler.safe_read import MAX_SPEC_BYTES, ReadRefused, read_regular
from compiler.yaml_source import ParsedDoc, decode, parse_documents, reparse_document
from llmops_spec import Ref


@dataclass
class Project:
    """Everything loaded from one spec folder; resources are keyed by ``Kind/name``."""

    root: Path
    files: dict[str, str] = field(default_factory=dict)  # repo-relative path -> sha256 of its bytes
    resources: dict[Ref, Resource] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unparsed_files: int = 0

    @property
    def specs_digest(self) -> str:
        """One hash over every spec file's path and content: what a saved plan was made from."""
        return specs_digest(self.files)

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.kind == kind]

    def get(self, ref: Ref) -> Resource | None:
        return self.resources.get(ref.resource)


def _relative(path: Path, root: Path) -> str:
    text, base = str(path), str(root).rstrip(os.sep) + os.sep
    if text.startswith(base):  # the common case, found under the resolved root: no syscalls
        return text[len(base):].replace(os.sep, "/")
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read_file(root: Path, path: Path, rel: str) -> tuple[bytes | None, Diagnostic | None]:
    """A spec file's bytes: a regular file inside the project, of at most MAX_SPEC_BYTES (compiler/safe_read.py)."""
    try:
        return read_regular(path, MAX_SPEC_BYTES, root), None
    except ReadRefused as refused:
        if refused.code == "E004":
            return None, error(rel, 1, 1, "E004", f"spec file {refused.message}",
                               "keep data out of specs: reference it with source.path")
        # the whole file (line 0): no line of it is shown, since it is not read
        return None, error(rel, 0, 0, refused.code, f"spec file {refused.message}", refused.hint)
    except OSError as exc:
        return None, error(rel, 1, 1, "E001", f"cannot read file: {exc.strerror or exc}", "check the file's permissions")


def _reparse(root: Path, path: Path, rel: str, index: int) -> ParsedDoc | None:
    try:
        text, _ = decode(read_regular(path, MAX_SPEC_BYTES, root), rel)
    except (OSError, ReadRefused):
        return None
    return reparse_document(text or "", rel, index)


def load_documents(root: Path, paths: list[Path], use_cache: bool = True) -> tuple[dict[str, str], list[ParsedDoc], list[Diagnostic], int]:
    """Read, hash and parse spec files, using the parse cache for unchanged content."""
    cache = load_cache(root) if use_cache else {}
    fresh: dict[str, list] = {}
    files: dict[str, str] = {}
    docs: list[ParsedDoc] = []
    diagnostics: list[Diagnostic] = []
    unparsed = 0
    for path in paths:
        rel = _relative(path, root)
        raw, problem = _read_file(root, path, rel)
        if raw is None:
            diagnostics.append(problem)  # type: ignore[arg-type]
            unparsed += 1
            continue
        digest = hashlib.sha256(raw).hexdigest()
        files[rel] = digest
        cached = cache.get(digest)
        if cached is not None:
            fresh[digest] = cached
            docs.extend(ParsedDoc(rel, index, line, data, None, reparse=partial(_reparse, root, path, rel, index))
                        for index, line, data in cached)
            continue
        text, problem = decode(raw, rel)
        if text is None:
            diagnostics.append(problem)  # type: ignore[arg-type]
            unparsed += 1
            continue
        parsed, problems = parse_documents(text, rel)
        docs.extend(parsed)
        diagnostics.extend(problems)
        if problems:
            unparsed += 1
        else:
            fresh[digest] = [(d.index, d.line, d.data) for d in parsed]
    if use_cache and fresh.keys() != cache.keys():
        save_cache(root, fresh)
    return files, docs, diagnostics, unparsed


def load_project(path: Path, use_cache: bool = True) -> Project:
    """Load every spec under ``path`` into a Project. Never raises for a problem in the specs."""
    root = project_root(path)
    project = Project(root)
    if not path.exists():
        project.diagnostics.append(error(str(path), 0, 0, "E001", f"{path} does not exist",
                                         "pass the folder that holds your specs, e.g. llmops validate specs/"))
        return project
    paths = find_spec_files(path.resolve())
    if not paths:
        project.diagnostics.append(warning(_relative(path, root), 0, 0, "W101", "no .yaml or .yml spec files found here",
                                           "pass the folder that holds your specs"))
    project.files, docs, project.diagnostics[len(project.diagnostics):], project.unparsed_files = (
        load_documents(root, paths, use_cache))
    first_seen: dict[Ref, Resource] = {}
    for doc in docs:
        resource, problems = to_resource(doc)
        project.diagnostics.extend(problems)
        if resource is None:
            continue
        previous = first_seen.get(resource.ref)
        if previous is not None:
            line, col = resource.locate(("metadata", "name"))
            pline, pcol = previous.locate(("metadata", "name"))
            project.diagnostics.append(error(resource.file, line, col, "E200", f"duplicate {resource.ref}",
                                             f"also defined at {previous.file}:{pline}:{pcol}; names are unique per kind"))
            project.diagnostics.append(error(previous.file, pline, pcol, "E200", f"duplicate {resource.ref}",
                                             f"also defined at {resource.file}:{line}:{col}; names are unique per kind"))
            continue
        first_seen[resource.ref] = resource
    project.resources = first_seen
    return project
