"""What runs inside a Ray worker: one or more steps, every outcome turned into a plain value.

Kept apart from runners/apply.py so a worker imports only this, the step's module and what
its context unpickles into, not the driver's machinery (compiler, DVC, the lock).
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path
from typing import Any

from runners.step import GateFailed, NodeFailed


def run_step(module: str, ctx: Any) -> tuple:
    """Run one step: ("ok", StepResult) | ("gate", message, verdict) | ("failed", message, hint, retryable)."""
    try:
        return ("ok", importlib.import_module(module).run(ctx))
    except GateFailed as exc:
        return ("gate", exc.message, exc.verdict)
    except NodeFailed as exc:
        return ("failed", exc.message, exc.hint, exc.retryable)
    except MemoryError:
        return ("failed", f"{ctx.node} ran out of memory", "give it more: resources.memory_gb, or a smaller batch_size", True)
    except Exception as exc:  # a bug in a step: say where, briefly (no Ray-wrapped tracebacks)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return ("failed", f"{type(exc).__name__}: {exc} (at {Path(frame.filename).name}:{frame.lineno})",
                "this looks like a bug in llmops; rerun with LLMOPS_DEBUG=1 and report it", True)


def run_steps(jobs: list[tuple[str, Any]]) -> list[tuple]:
    """The Ray task: run each (step module, context) in turn; one outcome per job, in order."""
    return [run_step(module, ctx) for module, ctx in jobs]
