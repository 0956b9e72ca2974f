"""The values policies match on are what they look like: one script per word, nothing invisible, real booleans.

Policies compare labels and a deployment's ``environment`` after normalization
(``compiler.policy.matching``: NFKC, case-folded, stripped), which makes ``Production``
and ``"prod "`` prod. What no normalization makes equal is refused here, at validate:

* E250: a word mixing scripts, e.g. ``рrod`` with a Cyrillic ``р``, which reads as prod
  and matches nothing (Latin with Chinese or Japanese letters is fine, as UTS #39 allows);
* E251: an invisible or control character (``prod\\u200b``);
* E252: a boolean label (``pii``, ``commercial``, or one a Policy matches on "true" or
  "false") that is neither "true" nor "false": ``pii: "yes"`` must not read as no;
* E253: two label keys of one resource that normalize alike (``Env`` and ``env``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from compiler.diagnostics import Diagnostic
from compiler.policy.matching import BOOLEANS, boolean_labels, normalize
from compiler.project import Project
from compiler.resources import Resource
from compiler.yaml_source import PathKey

_WORD = re.compile(r"\w+")
_EAST_ASIAN = ("CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC")
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_YES = frozenset({"yes", "y", "on", "1", "t", "enabled"})
_NO = frozenset({"no", "n", "off", "0", "f", "disabled", ""})


@lru_cache(maxsize=4096)
def _script(ch: str) -> str | None:
    """The script of a letter, by its Unicode name (East Asian scripts as one); None for what is not a letter."""
    if not ch.isalpha():
        return None
    first = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
    return "EAST-ASIAN" if first in _EAST_ASIAN else first


def mixed_scripts(value: str) -> tuple[str, str] | None:
    """The first word of ``value`` (normalized) whose letters come from two scripts, with its scripts; else None."""
    text = unicodedata.normalize("NFKC", value)
    if text.isascii():
        return None
    for word in _WORD.findall(text):
        scripts = {s for s in map(_script, word) if s is not None}
        if len(scripts) > 1 and scripts != {"LATIN", "EAST-ASIAN"}:
            return word, " and ".join(sorted(s.capitalize() for s in scripts))
    return None


def invisible(value: str) -> str | None:
    """The first invisible or control character of ``value``, as U+XXXX; None when there is none."""
    if value.isascii() and value.isprintable():
        return None
    for ch in value:
        if unicodedata.category(ch) in _INVISIBLE and ch != " ":
            return f"U+{ord(ch):04X}"
    return None


def _text_problems(resource: Resource, path: PathKey, value: str) -> Iterator[Diagnostic]:
    where = ".".join(str(p) for p in path)
    hidden = invisible(value)
    if hidden is not None:
        yield resource.error(path, "E251", f"{where} {value!r} holds an invisible character ({hidden})",
                             "retype the value without it: no reviewer can see it, and it makes the value match no policy")
        return
    mixed = mixed_scripts(value)
    if mixed is not None:
        word, scripts = mixed
        yield resource.error(path, "E250", f"{where}: {word!r} mixes {scripts} letters",
                             "write it in one script: a look-alike letter makes a value read as one thing "
                             "and match as another (e.g. a Cyrillic р in prod)")


def _boolean_problem(resource: Resource, path: PathKey, key: str, value: str) -> Diagnostic | None:
    if normalize(value) in BOOLEANS:
        return None
    said = normalize(value)
    meant = "true" if said in _YES else "false" if said in _NO else None
    hint = (f'write {key}: "{meant}"' if meant else f'write {key}: "true" or {key}: "false"') + \
        f" (quoted): policies read {key} as a boolean, and only \"true\" and \"false\" are booleans"
    return resource.error(path, "E252", f"label {key} must be \"true\" or \"false\", not {value!r}", hint)


def _labels(resource: Resource, base: PathKey, labels: dict[str, str], booleans: frozenset[str]) -> Iterator[Diagnostic]:
    seen: dict[str, str] = {}
    for key, value in labels.items():
        path = (*base, key)
        folded = normalize(key)
        if folded in seen:
            yield resource.error(path, "E253", f"label keys {seen[folded]!r} and {key!r} are the same key to policies",
                                 "keep one of them: policies compare label keys case-insensitively", at="key")
        seen.setdefault(folded, key)
        yield from _text_problems(resource, path, value)
        if folded in booleans:
            problem = _boolean_problem(resource, path, key, value)
            if problem is not None:
                yield problem


def check_match_values(project: Project) -> list[Diagnostic]:
    policies = [r for r in project.of_kind("Policy") if r.spec is not None]
    booleans = boolean_labels(r.spec.match.labels for r in policies)
    found: list[Diagnostic] = []
    for resource in project.resources.values():
        if resource.model is None:
            continue
        found.extend(_labels(resource, ("metadata", "labels"), resource.model.metadata.labels, booleans))
        if resource.kind == "Deployment":
            found.extend(_text_problems(resource, ("spec", "environment"), resource.spec.environment))
        elif resource.kind == "Policy":
            found.extend(_labels(resource, ("spec", "match", "labels"), resource.spec.match.labels, booleans))
    return found
