"""The columns' contract, applied to every row as it is read: types, nullability, presence.

A row that breaks it (a value of the wrong type, null in a column not declared nullable, a
column missing, a jsonl line that is not a JSON object, a csv record with the wrong number of
fields) is recorded with where it is (``file:line``; parquet ``file: row group G, row R``) and
why. Reading goes on either way, so one run shows the user every kind of problem at once:

- ``on_error: {action: fail}`` (the default): after the last row the node fails, listing the
  first ``show`` bad rows and how many more there were.
- ``on_error: {action: skip, max_skipped: N}``: bad rows are dropped, counted by reason, and
  the first ``show`` are listed in report.json's ``rejected``; bad row N+1 fails the node at
  once (a source that is mostly bad is a broken export, not noise).

What makes the rest of a file unreadable (not UTF-8, a csv header without a declared column,
broken csv quoting, not a parquet file) is no row's fault: the readers fail on it at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from runners.data.column_types import ColumnTypeError, check_value, parse_text_value
from runners.data.table import Row
from runners.step import NodeFailed

DEFAULT_SHOW = 20

_HINTS = {
    "missing": "add the value to the row, or remove the column from the spec's columns",
    "null": "fix the row, or declare the column nullable (columns: {{{column}: {{type: {kind}, nullable: true}}}})",
    "wrong type": "fix the row, or declare the column's real type in the spec (columns: {{{column}: ...}})",
    "not valid JSON": "each line must be one JSON object",
    "not an object": "each line must be one JSON object",
    "field count": "quote fields that contain commas",
}
_SKIP_HINT = "or set on_error: {action: skip, max_skipped: N} to drop such rows and list them in report.json"


@dataclass(frozen=True)
class BadRecord:
    """What a reader yields for a record it could not make a row of (a line that is not a JSON object...)."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Rejection:
    """One bad row: where it is, which column (if one), why, and the message that says so."""

    origin: str
    column: str | None
    reason: str
    detail: str

    def line(self) -> str:
        return f"{self.origin}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"at": self.origin, "column": self.column, "reason": self.reason, "detail": self.detail}


class Contract:
    """Conforms raw records to the declared columns, and keeps account of the ones that do not."""

    def __init__(self, columns: dict[str, str], nullable: frozenset[str] = frozenset(), *, action: str = "fail",
                 max_skipped: int | None = None, show: int = DEFAULT_SHOW) -> None:
        self.columns = dict(columns)
        self.nullable = frozenset(nullable)
        self.action = action
        self.max_skipped = max_skipped if action == "skip" else None
        self.show = show
        self.count = 0
        self.reasons: Counter[str] = Counter()
        self.shown: list[Rejection] = []
        self.kinds: dict[str, Rejection] = {}   # the first rejection of each reason, for a hint

    @classmethod
    def of(cls, spec: Any) -> Contract:
        """The contract a DatasetSpec declares."""
        on_error = spec.on_error
        return cls(spec.column_types, spec.nullable, action=on_error.action, max_skipped=on_error.max_skipped,
                   show=on_error.show)

    def conform(self, raw: dict[str, Any] | BadRecord, origin: str, *, parse: bool) -> Row | None:
        """The row typed as declared (csv cells parsed when ``parse``), or None when it is rejected."""
        if isinstance(raw, BadRecord):
            self._reject(Rejection(origin, None, raw.reason, raw.detail))
            return None
        row: Row = {}
        for column, kind in self.columns.items():
            if column not in raw:
                have = ", ".join(map(str, raw)) or "none"
                self._reject(Rejection(origin, column, "missing", f"the row has no column '{column}' (it has: {have})"))
                return None
            value = raw[column]
            if column in self.nullable and (value is None or (parse and not value.strip())):
                row[column] = None     # a nullable csv column reads an empty cell as null
                continue
            try:
                row[column] = parse_text_value(value, kind) if parse else check_value(value, kind)
            except ColumnTypeError as exc:
                reason = "null" if value is None else "wrong type"
                self._reject(Rejection(origin, column, reason, f"column '{column}' {exc}"))
                return None
        return row

    def _reject(self, rejection: Rejection) -> None:
        self.count += 1
        key = f"{rejection.column}: {rejection.reason}" if rejection.column else rejection.reason
        self.reasons[key] += 1
        self.kinds.setdefault(rejection.reason, rejection)
        if len(self.shown) < self.show:
            self.shown.append(rejection)
        if self.max_skipped is not None and self.count > self.max_skipped:
            raise NodeFailed(self._listing(f"more than {self.max_skipped} rows break the declared columns "
                                           f"(on_error max_skipped: {self.max_skipped})", stopped=True),
                             "a source this broken is more likely a bad export than noise: fix it, or raise "
                             "max_skipped if these rows are expected", retryable=False)

    def finish(self) -> None:
        """After the last row: with fail, a node that read any bad row fails, listing them."""
        if self.action == "fail" and self.count:
            if self.count == 1:
                raise NodeFailed(self.shown[0].line(), self._hint(self.shown[0]), retryable=False)
            raise NodeFailed(self._listing(f"{self.count} rows break the declared columns"),
                             "; ".join(dict.fromkeys(self._hint(r) for r in self.kinds.values())) + "; " + _SKIP_HINT,
                             retryable=False)

    def _listing(self, headline: str, stopped: bool = False) -> str:
        shown = "\n".join(f"  {r.line()}" for r in self.shown)
        rest = self.count - len(self.shown)
        more = f"\n  ... and {rest} more{' before reading stopped' if stopped else ''}" if rest else ""
        return f"{headline}:\n{shown}{more}"

    def _hint(self, rejection: Rejection) -> str:
        column = rejection.column or ""
        return _HINTS[rejection.reason].format(column=column, kind=self.columns.get(column, "string"))

    def report(self) -> dict[str, Any]:
        """report.json's ``rejected``: how many rows were skipped, by reason, and the first ``show`` of them."""
        return {"count": self.count, "max_skipped": self.max_skipped,
                "reasons": dict(sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))),
                "rows": [r.to_json() for r in self.shown], "more": self.count - len(self.shown)}
