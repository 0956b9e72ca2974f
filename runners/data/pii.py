"""PII detection and redaction: patterns, each confirmed by a check where one exists.

A pattern finds candidates; a validator rejects look-alikes: credit cards must pass the
Luhn checksum, IBANs the ISO 13616 mod-97 checksum, IP addresses must parse (v4 or v6),
SSNs must use assignable area/group/serial numbers, phones must have 7-15 digits and look
like a phone (a leading +, parentheses, or one kind of separator between groups of 2-6
digits; a bare run of digits only right after a word such as "call" or "phone"), and
never like a date or an SSN.

Entities are matched in a fixed order, most specific first (email, iban, credit_card,
ssn, ip_address, phone), whatever order the spec lists them in: a redacted span
contains no digits, so a card number cannot also be counted as a phone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from runners.data.table import Table, TransformReport

ORDER = ("email", "iban", "credit_card", "ssn", "ip_address", "phone")

# Each pattern opens with a lookahead for its first character, so that most positions of
# a text are ruled out before the (slower) lookbehind runs.
_EMAIL = re.compile(r"(?=[A-Za-z0-9])(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"(?=[A-Z])\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?=\d)(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?=\d)(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_IPV4 = re.compile(r"(?=\d)(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?=[0-9A-Fa-f:])(?<![\w:.])(?:[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?<![.:])|::)(?![\w:])")  # 2+ colons
_PHONE = re.compile(r"(?=[+(\d])(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,15}(?:[ .-]\d{1,6}){0,5}(?!\w)")
_DIGIT = re.compile(r"\d")
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_PHONE_CONTEXT = re.compile(r"\b(?:call|phone|tel|telephone|mobile|cell|whatsapp|sms|text|fax|ring|reach|contact)"
                            r"(?:s|ed|ing)?\b\W{0,6}(?:(?:me|us|at|on|no|number|nr)\b\W{1,4}){0,3}$", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _card(match: re.Match, text: str) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _ssn(match: re.Match, text: str) -> bool:
    area, group, serial = match.group(1), match.group(3), match.group(4)
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip(match: re.Match, text: str) -> bool:
    try:
        ipaddress.ip_address(match.group())
    except ValueError:
        return False
    return True


def _phone(match: re.Match, text: str) -> bool:
    span = match.group()
    digits = sum(c.isdigit() for c in span)
    if not 7 <= digits <= 15 or _DATE.match(span) or _SSN.fullmatch(span):
        return False  # dates and SSN-shaped numbers (3-2-4) are never phones
    if span.startswith("+") or "(" in span:
        return True
    groups = re.split(r"[ .-]", span)
    if len(groups) > 1:
        # Separated groups: a phone's are 2-6 digits after a lead group that may be one digit (a country or trunk code).
        return all(2 <= len(g) <= 6 for g in groups[1:]) and len(groups[-1]) >= 3 and len(set(span) & set(" .-")) == 1
    return bool(_PHONE_CONTEXT.search(text[max(0, match.start() - 40): match.start()]))


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


@dataclass(frozen=True)
class Detector:
    """A pattern, the check that confirms a match, and a cheap test that rules a text out without a scan."""

    pattern: re.Pattern[str]
    valid: Callable[[re.Match, str], bool] | None = None
    may_occur: Callable[[str], bool] = _has_digit


DETECTORS: dict[str, tuple[Detector, ...]] = {
    "email": (Detector(_EMAIL, None, lambda text: "@" in text),),
    "iban": (Detector(_IBAN, lambda m, _: iban_valid(m.group())),),
    "credit_card": (Detector(_CARD, _card),),
    "ssn": (Detector(_SSN, _ssn),),
    "ip_address": (Detector(_IPV4, _ip), Detector(_IPV6, _ip, lambda text: text.count(":") >= 2)),
    "phone": (Detector(_PHONE, _phone),),
}


def _replace(text: str, detector: Detector, label: str) -> tuple[str, int]:
    pieces: list[str] = []
    last = 0
    for match in detector.pattern.finditer(text):
        if detector.valid is None or detector.valid(match, text):
            pieces += (text[last:match.start()], label)
            last = match.end()
    if not pieces:
        return text, 0
    pieces.append(text[last:])
    return "".join(pieces), len(pieces) // 2


def redact(text: str, entities: list[str], replacement: str = "[{entity}]") -> tuple[str, dict[str, int]]:
    """``text`` with every found entity replaced, and how many of each were found."""
    counts: dict[str, int] = {}
    verdicts: dict[Callable[[str], bool], bool] = {}   # cheap tests already run on the current text
    for entity in ORDER:
        if entity not in entities:
            continue
        for detector in DETECTORS[entity]:
            verdict = verdicts.get(detector.may_occur)
            if verdict is None:
                verdict = verdicts[detector.may_occur] = detector.may_occur(text)
            if verdict:
                text, found = _replace(text, detector, replacement.replace("{entity}", entity))
                if found:
                    counts[entity] = counts.get(entity, 0) + found
                    verdicts.clear()
    return text, counts

def pii_redact(table: Table, columns: list[str], entities: list[str], replacement: str) -> tuple[Table, TransformReport]:
    """Redact ``entities`` in the string ``columns`` of every row; rows are rewritten, none dropped, nulls kept."""
    totals = dict.fromkeys((e for e in ORDER if e in entities), 0)
    changed = 0
    rows = []
    for row in table.rows:
        new = row
        for column in columns:
            if row[column] is None:  # a nullable column's null has nothing to redact
                continue
            text, counts = redact(row[column], entities, replacement)
            if counts:
                if new is row:
                    new = dict(row)
                new[column] = text
                for entity, count in counts.items():
                    totals[entity] += count
        changed += new is not row
        rows.append(new)
    report = TransformReport("pii_redact", {"columns": list(columns), "entities": list(totals), "replacement": replacement},
                             len(table), len(table), {"rows_changed": changed, "counts": totals})
    return table.with_rows(rows), report
