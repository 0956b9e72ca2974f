"""Secrets written into specs: keys, tokens and private keys, found with detect-secrets' detectors.

Specs are committed and read by everyone with the repository, so a credential belongs
in the runner's environment, never in a spec. Detection and classification are
detect-secrets' (Yelp): its regex detectors, its keyword detector for YAML and its
false-positive filters, plus one detector for Hugging Face tokens, which it lacks. Its
entropy detectors are left out: specs pin commits and hashes by design
(``revision: <sha>``), and those would all be flagged.

Running every detector on every string of 10,000 specs takes seconds, so a pre-filter
first picks the strings some detector could flag (a superset: each detector's pattern
needs one of the marks below; a test holds every detector's sample to it), and
detect-secrets, imported only then, judges those few. Comments are not scanned: the
scan reads the parsed values, which is also what locates each secret at its field.

A secret is never copied out of its spec, waived or not: ``compiler.policy.redaction``
replaces it, with these detectors, wherever llmops writes what a spec says.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # redaction (redaction.py) runs where no spec model is loaded: a cached plan's reasons
    from compiler.project import Project
    from compiler.resources import Resource
    from compiler.yaml_source import PathKey
    from llmops_spec import Ref

_SEPARATOR = b"\0"
_STEMS = (b"key", b"pass", b"pw", b"secret", b"token", b"contrase", b"aws", b"auth")  # the keyword detectors' words
_LITERALS = (b"eyJ", b"://", b"AccountKey=", b"PRIVATE KEY", b"PuTTY-User-Key", b"_authToken", b"sq0csp-", b"SG.",
             b"pypi-", b"GR1348941", b"hf_", b"_live_")
_PREFIXED = {b"xox": re.compile(rb"xox[a-z]-"), b"gl": re.compile(rb"gl[a-z]{2,5}-"), b"gh": re.compile(rb"gh[pousr]_"),
             b"AKC": re.compile(rb"AKC[A-Za-z0-9]{10}"), b"AP": re.compile(rb"AP[\dA-F][A-Za-z0-9]{8}"),
             b"-us": re.compile(rb"-us\d")}
_HEX = re.compile(r"[0-9a-f]{7,64}")
_HEX_RUN = re.compile(rb"[0-9a-f]{7,64}")
"""A pinned commit or content hash: with the marks above (a keyword, a prefix, ``-us1``), no detector flags one."""


def _table(classes: dict[bytes, bytes]) -> bytes:
    """A bytes.translate table: each byte of a class to its letter, every other byte to a space."""
    table = bytearray(b" " * 256)
    for members, letter in classes.items():
        for byte in members:
            table[byte] = letter[0]
    return bytes(table)


_DIGITS = b"0123456789"
_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + _DIGITS
# Runs found as literals in a translated copy: C-speed, where Python's re is slow on patterns like [A-Za-z0-9]{20}.
_TOKEN = (_table({_ALNUM: b"a"}), b"a" * 20)  # a long token, not a hash: cloud keys, API keys, webhook ids
_RUNS = (
    (_table({_ALNUM + b"_-": b"w", b".": b"."}), b"w" * 23 + b"." + b"w" * 6 + b"."),  # Discord bot tokens
    (_table({_DIGITS: b"0", b":": b":"}), b"0" * 8 + b":"),  # Telegram bot tokens
)


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A secret's type (detect-secrets' name for it) and where it is written; never the secret itself."""

    kind: str
    path: PathKey
    line_offset: int = 0  # the line within a multi-line value


def field_name(path: PathKey) -> str:
    """``("spec", "env_vars", "HF_TOKEN")`` as ``spec.env_vars.HF_TOKEN``; list items as ``[i]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _occurrences(haystack: bytes, needle: bytes) -> list[int]:
    found: list[int] = []
    at = haystack.find(needle)
    while at != -1:
        found.append(at)
        at = haystack.find(needle, at + len(needle))
    return found


def _starts(parts: list[bytes]) -> list[int]:
    """Where each part begins once joined by the separator."""
    starts: list[int] = []
    offset = 0
    for part in parts:
        starts.append(offset)
        offset += len(part) + 1
    return starts


def _tokens(joined: bytes) -> list[int]:
    """Where runs of 20 or more letters and digits begin, but for runs that are hashes (lowercase hex, 7 to 64)."""
    table, needle = _TOKEN
    runs = joined.translate(table)
    found: list[int] = []
    at = runs.find(needle)
    while at != -1:
        start = runs.rfind(b" ", 0, at) + 1
        end = runs.find(b" ", at)
        end = len(runs) if end == -1 else end
        if not _HEX_RUN.fullmatch(joined, start, end):
            found.append(start)
        at = runs.find(needle, end)
    return found


def _marks(joined: bytes) -> list[int]:
    """Positions of every mark in ``joined``; the same mark may be found more than once."""
    positions = _tokens(joined)
    for table, run in _RUNS:
        positions += _occurrences(joined.translate(table), run)
    for literal in _LITERALS:
        positions += _occurrences(joined, literal)
    for prefix, pattern in _PREFIXED.items():
        positions += [at for at in _occurrences(joined, prefix) if pattern.match(joined, at)]
    lowered = joined.lower()
    for stem in _STEMS:
        positions += _occurrences(lowered, stem)
    return positions


def suspects(values: list[str]) -> set[str]:
    """The values some detector could flag whatever their key (hashes and pinned commits excepted)."""
    encoded = [value.encode() for value in values]
    starts = _starts(encoded)
    hits = {values[bisect_right(starts, at) - 1] for at in _marks(_SEPARATOR.join(encoded))}
    return {value for value in hits if _HEX.fullmatch(value) is None}


@lru_cache(maxsize=4096)
def suspect_key(key: str) -> bool:
    """A key the keyword detector reads as naming a secret (``password``, ``api_key``, ...)."""
    lowered = key.lower().encode()
    return any(stem in lowered for stem in _STEMS)


def is_candidate(key: str, value: str) -> bool:
    """Whether any detector could flag ``key: value``; false only when none can."""
    return suspect_key(key) or bool(suspects([value]))


def _strings(data: Any, path: PathKey, key: str, out: list[tuple[PathKey, str, str]]) -> None:
    """Every string value of ``data`` with its path and the key it is under."""
    if isinstance(data, str):
        out.append((path, key, data))
    elif isinstance(data, dict):
        for child_key, value in data.items():
            _strings(value, (*path, child_key), str(child_key), out)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _strings(value, (*path, i), key, out)


@lru_cache(maxsize=1)
def _detectors() -> tuple[Any, ...]:
    """detect-secrets' detectors, minus the entropy and IP ones, plus Hugging Face tokens (imported on first use)."""
    from detect_secrets.plugins.artifactory import ArtifactoryDetector
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.cloudant import CloudantDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
    from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import KeywordDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.softlayer import SoftlayerDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    class HuggingFaceTokenDetector(RegexBasedDetector):
        """User access tokens of the Hugging Face Hub: ``hf_`` and 34 or more letters and digits."""

        secret_type = "Hugging Face Token"
        denylist = (re.compile(r"\bhf_[A-Za-z0-9]{34,}\b"),)

    classes = (ArtifactoryDetector, AWSKeyDetector, AzureStorageKeyDetector, BasicAuthDetector, CloudantDetector,
               DiscordBotTokenDetector, GitHubTokenDetector, GitLabTokenDetector, HuggingFaceTokenDetector,
               IbmCloudIamDetector, IbmCosHmacDetector, JwtTokenDetector, KeywordDetector, MailchimpDetector,
               NpmDetector, OpenAIDetector, PrivateKeyDetector, PypiTokenDetector, SendGridDetector, SlackDetector,
               SoftlayerDetector, SquareOAuthDetector, StripeDetector, TelegramBotTokenDetector, TwilioKeyDetector)
    return tuple(cls() for cls in classes)


def _false_positive(secret: str, line: str, detector: Any) -> bool:
    """detect-secrets' own heuristics: placeholders, ``${VAR}`` references, sequences, UUIDs, ids."""
    from detect_secrets.filters import heuristic

    return (heuristic.is_templated_secret(secret) or heuristic.is_prefixed_with_dollar_sign(secret)
            or heuristic.is_sequential_string(secret) or heuristic.is_potential_uuid(secret)
            or heuristic.is_not_alphanumeric_string(secret) or heuristic.is_indirect_reference(line)
            or heuristic.is_likely_id_string(secret, line, detector))


@lru_cache(maxsize=4096)
def detections(line: str) -> tuple[tuple[str, str | None], ...]:
    """(type, the secret as detect-secrets cut it, or None) of every secret in one YAML line."""
    found: list[tuple[str, str | None]] = []
    for detector in _detectors():
        for hit in detector.analyze_line(filename="spec.yaml", line=line, line_number=1):
            if not _false_positive(hit.secret_value or "", line, detector) and (hit.type, hit.secret_value) not in found:
                found.append((hit.type, hit.secret_value))
    return tuple(found)


def detect(line: str) -> tuple[str, ...]:
    """The types of secret detect-secrets finds in one YAML line, e.g. ``("AWS Access Key",)``."""
    return tuple(dict.fromkeys(kind for kind, _ in detections(line)))


def _judge(key: str, value: str) -> list[tuple[int, str]]:
    """(line within the value, type) of each secret in ``key: value``; the key goes with the first line."""
    lines = value.splitlines() or [""]
    return [(i, kind) for i, text in enumerate(lines) for kind in detect(f"{key}: {text}" if i == 0 else text)]


def _documents_with_marks(resources: list[Resource]) -> list[Resource]:
    """The documents whose text, keys included, holds a mark: all of them searched at once, as JSON."""
    blobs: list[bytes] = []
    chosen: list[Resource] = []
    kept: list[Resource] = []
    for resource in resources:
        try:
            blobs.append(orjson.dumps(resource.doc.data))
            kept.append(resource)
        except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits: judge the document the slow way
            chosen.append(resource)
    joined = _SEPARATOR.join(blobs)
    starts = _starts(blobs)
    chosen += [kept[i] for i in sorted({bisect_right(starts, at) - 1 for at in _marks(joined)})]
    return chosen


def _scan(resources: list[Resource]) -> dict[Ref, list[SecretHit]]:
    found: dict[Ref, list[SecretHit]] = {}
    for resource in _documents_with_marks(resources):
        strings: list[tuple[PathKey, str, str]] = []
        _strings(resource.doc.data, (), "", strings)
        flagged = suspects([value for _, _, value in strings])
        hits = [SecretHit(kind, path, offset) for path, key, value in strings
                if value in flagged or suspect_key(key) for offset, kind in _judge(key, value)]
        if hits:
            found[resource.ref] = hits
    return found


def find_secrets(project: Project) -> dict[Ref, list[SecretHit]]:
    """Every secret in the values of each resource's document, by resource.

    The pre-filter reads all documents at once (as JSON, keys included); only those holding
    a mark are walked, with paths, and their suspect strings judged by detect-secrets.
    """
    return _scan(list(project.resources.values()))


def secrets_in(resource: Resource) -> list[SecretHit]:
    """The secrets of one document, to locate a finding."""
    return _scan([resource]).get(resource.ref, [])
