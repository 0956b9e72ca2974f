"""Apply's progress: a line per node as it starts and lands, a live line of what runs, and a summary."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

_MARKS = {"applied": ("✓", "green"), "deleted": ("-", "red"), "already-applied": ("=", "dim"),
          "failed": ("✗", "red"), "gate-failed": ("✗", "yellow"), "blocked": ("·", "dim")}


class Progress:
    def __init__(self, plan: dict[str, Any], console: Console | None = None) -> None:
        self.console = console or Console(stderr=False, highlight=False, soft_wrap=True)
        self.total = sum(1 for c in plan["changes"] if c["action"] != "no-op")
        self.running: dict[str, float] = {}
        self.finished = 0
        self.status: Any = None
        self.started = time.perf_counter()

    def __enter__(self) -> Progress:
        self.status = self.console.status(self._line())
        self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.status.__exit__(*exc)
        self.status = None

    def _line(self) -> str:
        names = ", ".join(sorted(self.running)) or "waiting"
        return f"[{self.finished}/{self.total}] running: {names}"

    def note(self, message: str) -> None:
        self.console.print(message, style="dim")

    def event(self, kind: str, node: str, report: Any = None) -> None:
        if kind == "started":
            self.running[node] = time.perf_counter()
            self.console.print(f"  [cyan]▸[/] {node}")
        elif kind == "retrying":
            self.console.print(f"  [yellow]↻[/] {node}: attempt {report.attempts} failed ({report.error}); retrying")
        elif kind == "finished":
            self.running.pop(node, None)
            self.finished += 1
            mark, color = _MARKS.get(report.status, ("?", "white"))
            took = f" [dim]{report.seconds:.1f}s[/]" if report.seconds else ""
            text = report.summary if report.status in ("applied", "deleted", "already-applied") else report.error
            self.console.print(f"  [{color}]{mark}[/] {node}{took}  {_escape(text)}")
            if report.hint and report.status in ("failed", "gate-failed"):
                self.console.print(f"      [dim]hint: {_escape(report.hint)}[/]")
        if self.status is not None:
            self.status.update(self._line())

    def summary(self, report: Any) -> None:
        counts = {s: report.count(s) for s in ("applied", "deleted", "already-applied", "failed", "gate-failed", "blocked")}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        elapsed = time.perf_counter() - self.started
        color = {"applied": "green", "gate-failed": "yellow"}.get(report.result, "red")
        word = {"applied": "complete", "gate-failed": "stopped by a gate"}.get(report.result, report.result)
        self.console.print(f"\n[{color}]Apply {word}[/]: {shown or 'nothing to do'} in {elapsed:.1f}s.")
        if report.interrupted:
            self.console.print("Finished nodes are in llmops.lock; run apply again to resume.")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text or "")
