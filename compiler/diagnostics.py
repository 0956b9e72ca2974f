"""One Diagnostic type for every layer: where, which rule, how bad, what, and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


# Stable codes. A code is never reused for another meaning; docs/diagnostics.md lists them.
CODES: dict[str, str] = {
    # files and YAML (E0xx)
    "E001": "file cannot be read",
    "E002": "file is binary",
    "E003": "file is not valid UTF-8",
    "E004": "file too large",
    "E005": "not a regular file",
    "E010": "YAML syntax error",
    "E011": "tab used for indentation",
    "E012": "duplicate key",
    "E013": "unsupported YAML tag",
    "E014": "alias expansion too large",
    "E015": "nesting too deep",
    "E016": "document is not a mapping",
    "E017": "too many documents",
    # envelope (E02x)
    "E020": "missing or unsupported apiVersion",
    "E021": "unknown kind",
    "E022": "invalid metadata",
    # fields (E1xx)
    "E100": "unknown field",
    "E101": "missing required field",
    "E102": "wrong type",
    "E103": "value out of range",
    "E104": "invalid value",
    "E105": "unknown metric",
    "E106": "malformed reference",
    "E107": "conflicting fields",
    # across resources (E2xx)
    "E200": "duplicate resource",
    "E201": "unknown reference",
    "E202": "reference to the wrong kind",
    "E203": "unknown output",
    "E204": "dependency cycle",
    "E210": "template uses an undeclared variable",
    "E211": "unknown dataset column",
    "E212": "template syntax error",
    "E213": "template loads another template",
    "E214": "template nested too deeply",
    "E220": "source path does not exist",
    "E221": "path escapes the repository",
    "E222": "split fractions exceed 1",
    "E223": "column not declared",
    "E230": "gate evaluates another model",
    "E231": "CEL syntax error",
    "E232": "CEL expression too long or too deep",
    "E240": "model package is not an installed distribution",
    "E241": "model folder holds code",
    "E250": "value mixes scripts",
    "E251": "invisible character in a matched value",
    "E252": "boolean label not \"true\" or \"false\"",
    "E253": "label keys differ only in case",
    # plan and lock (E3xx)
    "E300": "lock file unreadable",
    "E301": "lock file from a newer llmops",
    "E302": "lock entry of the wrong shape",
    "E303": "lock entry no apply log record vouches for",
    "E304": "apply log not intact",
    # policies (P): built-in rules P0xx, user Policies P100, rules that cannot run P10x, waivers P2xx
    "P001": "production deployment without a gate",
    "P002": "model trained on pii data without redaction",
    "P003": "evaluation data overlaps training data",
    "P004": "non-commercial data in a commercial deployment",
    "P005": "secret in a spec",
    "P006": "model-graded metric without a pinned grader",
    "P007": "resource without an owner",
    "P008": "a Policy replaces a built-in rule",
    "P100": "policy violated",
    "P101": "policy rule does not compile",
    "P102": "policy rule failed on a resource",
    "P200": "waiver expired",
    # warnings (W)
    "W100": "declared variable not used by the template",
    "W101": "no spec files found",
    "W103": "metric does not apply to the model's task",
    "W240": "model package not installed where this runs",
}


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """A located finding. ``line`` and ``col`` are 1-based; 0 means the whole file."""

    file: str
    line: int
    col: int
    code: str
    severity: Severity
    message: str
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def title(self) -> str:
        return CODES.get(self.code, "")

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "col": self.col, "code": self.code,
                "severity": self.severity.value, "message": self.message, "hint": self.hint}


def error(file: str, line: int, col: int, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(file, line, col, code, Severity.ERROR, message, hint)


def warning(file: str, line: int, col: int, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(file, line, col, code, Severity.WARNING, message, hint)


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)
