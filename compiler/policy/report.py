"""The verdict of a policy check: located findings, what waived them, and what expired."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Diagnostic, Severity
from compiler.policy.render import summary_sentence
from compiler.policy.rules import Rule
from compiler.policy.waivers import Waiver, expired_diagnostic
from llmops_spec import Ref

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Finding:
    """One resource failing one policy, located at the field that fails it."""

    policy: str
    code: str
    severity: Severity
    resource: Ref
    message: str
    file: str
    line: int
    col: int
    hint: str | None = None
    waived_by: str | None = None

    @property
    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.file, self.line, self.col, self.code, self.severity, self.message, self.hint)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR and self.waived_by is None

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "code": self.code, "severity": self.severity.value,
                "resource": str(self.resource), "message": self.message, "hint": self.hint,
                "file": self.file, "line": self.line, "col": self.col, "waived_by": self.waived_by}



@dataclass(frozen=True)
class PolicyReport:
    findings: tuple[Finding, ...]
    rules: tuple[Rule, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    expired_waivers: tuple[Waiver, ...] = ()
    overridden: tuple[str, ...] = ()  # built-in rules replaced by a user Policy of the same name
    resources_checked: int = 0
    today: dt.date = field(default_factory=dt.date.today)

    @property
    def unwaived(self) -> list[Finding]:
        return [f for f in self.findings if f.waived_by is None]

    @property
    def errors(self) -> list[Finding]:
        """Unwaived error-severity findings: while one stands, apply refuses."""
        return [f for f in self.findings if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.unwaived if f.severity is Severity.WARNING]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waived_by is not None]

    @property
    def waived_count(self) -> int:
        return len(self.waived)

    @property
    def ok(self) -> bool:
        return not self.errors

    def waiver(self, name: str) -> Waiver | None:
        return next((w for w in self.waivers if w.name == name), None)

    def expired_diagnostics(self) -> list[Diagnostic]:
        return [expired_diagnostic(w) for w in self.expired_waivers]

    def diagnostics(self) -> list[Diagnostic]:
        """Unwaived findings and expired waivers as diagnostics, sorted by file and line."""
        return sorted([f.diagnostic for f in self.unwaived] + self.expired_diagnostics())

    @property
    def counts(self) -> dict[str, int]:
        return {"errors": len(self.errors), "warnings": len(self.warnings), "waived": self.waived_count,
                "expired_waivers": len(self.expired_waivers), "policies": len(self.rules),
                "resources": self.resources_checked}

    def summary(self) -> str:
        """``2 errors, 1 warning, 3 waived, 1 expired waiver (9 policies, 120 resources)``."""
        return summary_sentence(self.counts)

    def to_dict(self) -> dict[str, Any]:
        """The versioned report document (``format_version``): what JSON output, plan and the caches carry."""
        return {
            "format_version": FORMAT_VERSION,
            "ok": self.ok,
            "today": self.today.isoformat(),
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "waivers": [w.to_dict() for w in self.waivers],
            "expired_waivers": [w.to_dict() for w in self.expired_waivers],
            "policies": [{"id": r.id, "code": r.code, "severity": r.severity.value, "builtin": r.builtin,
                          "file": r.source.file if r.source else None} for r in self.rules],
            "overridden_builtins": list(self.overridden),
        }
