"""Spec strings made safe for the outputs a pull request's reader (and GitHub) interprets.

Any string that comes from a spec (a name, a message quoting a value, a waiver's reason, a
file name) is data, never markup or a command:

- ``one_line``: on one line, always. A newline in a spec string could start a line of its own
  in a CI log, where a line beginning ``::error file=...::`` is a workflow command. Line breaks
  and control characters become visible escapes (``\\n``), and the text is clipped.
- ``md``: Markdown text (PR comments): one line, HTML's ``& < >`` as entities, Markdown's
  punctuation (backticks, ``|``, ``*``, ``_``, ``[``, ``]``, ``~``, and ``::``) backslash-escaped,
  so no string opens a tag, a link, a code span or a table cell, or reads as a workflow command.
- ``md_code``: a code span when that is safe (no backtick), else escaped text.
- ``workflow_data`` / ``workflow_property``: GitHub's own escaping of workflow commands
  (``%25 %0D %0A``, and ``%3A %2C`` in properties), as @actions/core writes them.
- ``clip``: at most ``limit`` characters, with an ellipsis saying how many were left out, so a
  10 MB line is not a 10 MB diagnostic.
"""

from __future__ import annotations

import re

MAX_SHOWN = 500
"""Characters of one user string shown in a message or a cell."""
MAX_MESSAGE = 2_000
"""Characters of one diagnostic message or hint."""

_BREAKS = {"\r\n": "\\n", "\n": "\\n", "\r": "\\r", "\t": " ", "\x85": "\\n", "\u2028": "\\n", "\u2029": "\\n"}
_CONTROL = re.compile(r"\r\n|[\x00-\x1f\x7f\x85\u2028\u2029]")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text``, or its first ``limit`` characters and an ellipsis naming how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _visible(match: re.Match[str]) -> str:
    c = match[0]
    return _BREAKS.get(c) or f"\\x{ord(c):02x}"


def one_line(text: str, limit: int | None = MAX_SHOWN) -> str:
    """``text`` on one line: line breaks and control characters as visible escapes; clipped at ``limit``."""
    text = str(text)
    if limit is not None:
        text = clip(text, limit)
    return _CONTROL.sub(_visible, text)


def md(text: str, limit: int | None = MAX_SHOWN) -> str:
    """``text`` as inert Markdown text on one line (a table cell, a heading, a list item)."""
    flat = one_line(text, limit)
    flat = "".join(_HTML.get(c, c) for c in flat)
    return _MARKDOWN.sub(r"\\\1", flat).replace("::", ":\\:")


def md_code(text: str, limit: int | None = MAX_SHOWN, in_table: bool = True) -> str:
    """``text`` in a code span, or as escaped text when a backtick would end the span early.

    In a table a ``|`` ends the cell even inside a code span, unless escaped; elsewhere the escape would show.
    """
    flat = one_line(text, limit)
    if "`" in flat or not flat.strip():
        return md(text, limit)
    return f"`{flat.replace('|', chr(92) + '|')}`" if in_table else f"`{flat}`"


def workflow_data(text: str) -> str:
    """The message of a GitHub workflow command, escaped as @actions/core does (escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A property of a GitHub workflow command (``file=``, ``title=``), escaped as @actions/core does."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")
