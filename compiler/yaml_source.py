"""Safe YAML loading that keeps the position of every key and value.

Specs are parsed with ruamel.yaml's libyaml-based parser into nodes, never
constructed into Python objects by tag, so no tag can run code. On top of that:
bounded nesting (the C composer recurses), bounded alias expansion (billion
laughs), duplicate keys reported at both places, YAML 1.2 core-schema scalars
(``yes``/``no``/``on`` stay strings), and every error a located Diagnostic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.cyaml import CParser
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from compiler.diagnostics import Diagnostic, error
from compiler.safe_read import MAX_SPEC_BYTES

MAX_FILE_BYTES = MAX_SPEC_BYTES  # what reading a spec file allows (compiler/safe_read.py), checked again on bytes given
MAX_DEPTH = 48
MAX_EXPANDED_NODES = 100_000
MAX_DOCUMENTS = 1_000

PathKey = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column

_STD = "tag:yaml.org,2002:"
_PLAIN = "!llmops-plain"  # marker for an untagged plain scalar, resolved by the core schema below
_ALLOWED_TAGS = {_PLAIN, _STD + "str", _STD + "int", _STD + "float", _STD + "bool", _STD + "null",
                 _STD + "map", _STD + "seq", _STD + "timestamp", "!"}

_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
# What YAML 1.2 allows in a stream: tab, line breaks, printable characters (the spec's c-printable).
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_INT_DIGITS = 4000  # under Python's int-to-string limit (4300 digits)
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))


_PLAIN_TAG, _STR_TAG, _SEQ_TAG, _MAP_TAG = (Tag(suffix=t) for t in (_PLAIN, _STD + "str", _STD + "seq", _STD + "map"))


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


class _Composer(CParser):  # type: ignore[misc]
    """libyaml composer with our resolver: tags are recorded, never acted upon."""

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)
        self._depth = 0

    def descend_resolver(self, parent: Any, index: Any) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)

    def ascend_resolver(self) -> None:
        self._depth -= 1

    def resolve(self, kind: type, value: Any, implicit: Any) -> Tag:
        # Shared Tag objects: a node takes a Tag as it is, and would build a new one from a str (most of a node's cost).
        if kind is ScalarNode:
            return _PLAIN_TAG if implicit[0] else _STR_TAG
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG


def resolve_plain(text: str) -> Any:
    """A plain scalar under the YAML 1.2 core schema. Timestamps stay strings."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    first = text[0]
    if first.isdigit() or first in "+-.":
        if _INT.fullmatch(text):
            if len(text) > _MAX_INT_DIGITS:  # int() refuses it; no field takes it: a string, which the model rejects
                return text
            return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if _INF.fullmatch(text):
            return float("-inf") if first == "-" else float("inf")
        if _NAN.fullmatch(text):
            return float("nan")
    return text


@dataclass
class ParsedDoc:
    """One YAML document: its plain data and where each of its parts is written."""

    file: str
    index: int
    line: int
    data: Any
    positions: dict[PathKey, tuple[Position, Position]] | None = None
    text_starts: dict[PathKey, tuple[Position, str]] = field(default_factory=dict, repr=False)
    damaged: bool = False  # the YAML had errors inside this document (values were dropped)
    reparse: Callable[[], ParsedDoc | None] | None = field(default=None, repr=False)

    def _ensure_positions(self) -> dict[PathKey, tuple[Position, Position]]:
        if self.positions is None:
            again = self.reparse() if self.reparse is not None else None
            self.positions = again.positions or {} if again is not None else {}
            self.text_starts = again.text_starts if again is not None else {}
        return self.positions

    def text_start(self, path: PathKey) -> tuple[Position, str | None]:
        """Where the text of the scalar at ``path`` begins, and its style.

        After the quote of a quoted scalar; at the first character of the indented
        content of a block scalar (``|`` keeps lines, ``>`` folds them); else its position.
        """
        self._ensure_positions()
        hit = self.text_starts.get(path)
        return hit if hit is not None else (self.locate(path), None)

    def locate(self, path: PathKey, at: str = "value") -> Position:
        """Where the item at ``path`` is written; falls back to its nearest written ancestor."""
        positions = self._ensure_positions()
        for end in range(len(path), -1, -1):
            hit = positions.get(path[:end])
            if hit is not None:
                return hit[0] if at == "key" else hit[1]
        return (self.line, 1)


def _pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


class _Converter:
    """Nodes to plain data plus positions, with the tag, key and expansion checks."""

    def __init__(self, file: str, diagnostics: list[Diagnostic], lines: list[str]) -> None:
        self.file = file
        self.diagnostics = diagnostics
        self.lines = lines
        self.positions: dict[PathKey, tuple[Position, Position]] = {}
        self.text_starts: dict[PathKey, tuple[Position, str]] = {}
        self.failed = False

    def _record_text_start(self, node: ScalarNode, path: PathKey) -> None:
        line, col = _pos(node.start_mark)
        if node.style in ('"', "'"):
            self.text_starts[path] = ((line, col + 1), node.style)
            return
        # A block scalar: its text starts at the first non-blank line after the indicator.
        for number in range(line + 1, min(len(self.lines), _pos(node.end_mark)[0]) + 1):
            content = self.lines[number - 1]
            if content.strip():
                self.text_starts[path] = ((number, len(content) - len(content.lstrip(" ")) + 1), node.style)
                return

    def fail(self, node: Node, code: str, message: str, hint: str | None = None) -> None:
        self.failed = True
        line, col = _pos(node.start_mark)
        self.diagnostics.append(error(self.file, line, col, code, message, hint))

    def convert(self, node: Node, path: PathKey) -> Any:
        tag = _tag(node)
        if tag not in _ALLOWED_TAGS:
            self.fail(node, "E013", f"unsupported YAML tag {_short_tag(tag)}",
                      "specs are plain YAML: remove the tag (no Python objects or custom types)")
            return None
        if isinstance(node, ScalarNode):
            value = node.value
            if node.style:
                self._record_text_start(node, path)
            if tag == _PLAIN:
                return resolve_plain(value)
            if tag in (_STD + "str", "!", _STD + "timestamp"):
                return value
            resolved = resolve_plain(value)
            expected = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[tag[len(_STD):]]
            if not isinstance(resolved, expected) or (tag.endswith("int") and isinstance(resolved, bool)):
                self.fail(node, "E102", f"{value!r} is not a valid {_short_tag(tag)}")
                return None
            return float(resolved) if tag.endswith("float") else resolved
        if isinstance(node, SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                self.positions[(*path, i)] = (_pos(child.start_mark), _pos(child.start_mark))
                items.append(self.convert(child, (*path, i)))
            return items
        if not isinstance(node, MappingNode):  # pragma: no cover - the composer makes only these three
            return None
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, "E010", "a key must be a plain scalar, not a mapping or sequence")
                continue
            key_tag = _tag(key_node)
            if key_tag == _STD + "merge" or (key_tag == _PLAIN and key_node.value == "<<"):
                self.fail(key_node, "E013", "merge keys (<<) are not supported", "write the fields out, or use an anchor on the whole value")
                continue
            key = key_node.value
            where = (_pos(key_node.start_mark), _pos(value_node.start_mark))
            if key in mapping:
                first_line, first_col = self.positions[(*path, key)][0]
                self.fail(key_node, "E012", f"duplicate key '{key}'",
                          f"first defined at line {first_line}, column {first_col}; keep one of them")
                continue
            self.positions[(*path, key)] = where
            mapping[key] = self.convert(value_node, (*path, key))
        return mapping


def _tag(node: Node) -> str:
    """The node's tag as written, without ruamel's per-character URI decoding (most of a parse's time)."""
    tag = node.ctag
    return tag.suffix if tag.handle is None else str(tag)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


def _expanded_size(node: Node, memo: dict[int, int], shared: dict[int, Node]) -> int:
    """Node count once every alias is expanded, in time linear in the unique nodes.

    Nodes reached more than once (anchors used through aliases) are collected in ``shared``.
    """
    key = id(node)
    if key in memo:
        shared[key] = node
        return memo[key]
    memo[key] = 1  # guards recursive aliases; the composer rejects them anyway
    if isinstance(node, SequenceNode):
        size = 1 + sum(_expanded_size(child, memo, shared) for child in node.value)
    elif isinstance(node, MappingNode):
        size = 1 + sum(_expanded_size(k, memo, shared) + _expanded_size(v, memo, shared) for k, v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def _syntax_error(file: str, text: str, exc: MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = _pos(mark) if mark is not None else (1, 1)
    problem = (exc.problem or "invalid YAML").replace("\t", "\\t")
    lines = text.splitlines()
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    if "\t" in source_line[: max(col, 1)] or (col - 1 < len(source_line) and source_line[col - 1: col] == "\t"):
        tab_col = source_line.index("\t") + 1
        return error(file, line, tab_col, "E011", "tab character used for indentation",
                     "YAML indents with spaces only: replace the tab with spaces")
    context = f" {exc.context}" if exc.context else ""
    opened = exc.context_mark
    if opened is not None and (opened.line, opened.column) != (mark.line if mark else -1, mark.column if mark else -1):
        context += f" (started at line {opened.line + 1}, column {opened.column + 1})"
    return error(file, line, col, "E010", f"YAML syntax error: {problem}{context}".strip(),
                 "check the indentation, quoting and brackets between those two points" if opened is not None
                 else "check the indentation and quoting around this point")


def parse_documents(text: str, file: str) -> tuple[list[ParsedDoc], list[Diagnostic]]:
    """Parse every document of ``text``; errors are collected, documents before an error are kept."""
    diagnostics: list[Diagnostic] = []
    docs: list[ParsedDoc] = []
    composer = _Composer(text)
    lines = text.splitlines()
    index = 0
    try:
        while composer.check_node():
            node = composer.get_node()
            if index >= MAX_DOCUMENTS:
                line, col = _pos(node.start_mark)
                diagnostics.append(error(file, line, col, "E017", f"more than {MAX_DOCUMENTS} documents in one file",
                                         "split the file"))
                break
            doc = _convert_document(node, file, index, diagnostics, lines, may_alias="*" in text)
            if doc is not None:
                docs.append(doc)
            index += 1
    except _TooDeep as exc:
        line, col = _pos(exc.mark) if exc.mark is not None else (1, 1)
        diagnostics.append(error(file, line, col, "E015", f"nesting deeper than {MAX_DEPTH} levels",
                                 "specs are shallow; flatten this structure"))
    except MarkedYAMLError as exc:
        diagnostics.append(_syntax_error(file, text, exc))
    except RecursionError:  # pragma: no cover - depth is bounded above
        diagnostics.append(error(file, 1, 1, "E015", "nesting too deep"))
    return docs, diagnostics


def _convert_document(node: Node, file: str, index: int, diagnostics: list[Diagnostic], lines: list[str],
                      may_alias: bool = True) -> ParsedDoc | None:
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode) and _tag(node) == _PLAIN and resolve_plain(node.value) is None:
        return None  # an empty document, e.g. after a trailing ---
    memo: dict[int, int] = {}
    shared: dict[int, Node] = {}
    size = _expanded_size(node, memo, shared) if may_alias else 0  # no '*' in the text: no alias to expand
    if size > MAX_EXPANDED_NODES:
        biggest = max(shared.values(), key=lambda n: memo[id(n)], default=node)
        line, col = _pos(biggest.start_mark)
        diagnostics.append(error(file, line, col, "E014",
                                 f"document expands to {size:,} nodes through aliases (the limit is {MAX_EXPANDED_NODES:,}); "
                                 "the largest repeated anchor starts here",
                                 "aliases that nest aliases grow exponentially (a 'billion laughs'); write the values out"))
        return None
    converter = _Converter(file, diagnostics, lines)
    data = converter.convert(node, ())
    if not isinstance(data, dict):
        listed = isinstance(data, list) and data and all(isinstance(item, dict) for item in data)
        diagnostics.append(error(file, line, node.start_mark.column + 1, "E016",
                                 f"a spec document must be a mapping with apiVersion, kind, metadata and spec, not {_kind_of(data)}",
                                 "remove the leading '- ': each document is one mapping, separated by ---" if listed
                                 else "start the document with apiVersion: llmops/v1"))
        return None
    return ParsedDoc(file, index, line, data, converter.positions, converter.text_starts, converter.failed)


def _kind_of(value: Any) -> str:
    return "a list" if isinstance(value, list) else "a plain value" if value is not None else "nothing"


def reparse_document(text: str, file: str, index: int) -> ParsedDoc | None:
    """Document ``index`` of ``text`` parsed again, for the positions a cached load skipped."""
    docs, _ = parse_documents(text, file)
    return next((doc for doc in docs if doc.index == index), None)


def decode(raw: bytes, file: str) -> tuple[str | None, Diagnostic | None]:
    """Bytes to text, or the located reason they are not a spec file."""
    if len(raw) > MAX_FILE_BYTES:
        return None, error(file, 1, 1, "E004", f"file is {len(raw):,} bytes; spec files are limited to {MAX_FILE_BYTES:,}",
                           "keep data out of specs: reference it with source.path")
    nul = raw.find(b"\0")  # anywhere in the file, not only its start
    if nul >= 0:
        line, col = _byte_position(raw, nul)
        where = "" if nul < 8192 else f" (a NUL byte at line {line}, column {col})"
        return None, error(file, line if nul >= 8192 else 1, col if nul >= 8192 else 1, "E002",
                           f"file is binary, not YAML{where}", "move it out of the spec folder")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(raw, exc.start)
        return None, error(file, line, col, "E003", f"invalid UTF-8 byte 0x{raw[exc.start]:02x}",
                           "save the file as UTF-8")
    text = text.removeprefix("\ufeff")
    bad = _NOT_YAML.search(text)
    if bad is not None:  # the parser would raise a ReaderError with no position a user can use
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        return None, error(file, line, col, "E010", f"YAML syntax error: control character U+{ord(bad[0]):04X} is not "
                           "allowed in YAML", "remove it; write it as an escape (\\x1b) inside a double-quoted string")
    return text, None


def _byte_position(raw: bytes, index: int) -> Position:
    before = raw[:index]
    line = before.count(b"\n") + 1
    return line, len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
