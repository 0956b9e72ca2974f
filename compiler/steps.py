"""The one registry of step kinds: what runs a node of each kind, its code version, how it is scheduled.

Pure data (the compiler names a runner module, it never imports one): the fingerprint reads
each kind's code version and the spec fields it ignores (compiler/fingerprint.py), apply reads
the module to run, whether the kind is bookkeeping (milliseconds of work, no resources, shared
tasks: runners/scheduler.py) and whether it runs in the driver rather than in a Ray task.
Adding a kind of step is one entry here plus its runner module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepKind:
    name: str
    module: str                          # the runner module whose ``run(ctx)`` does the work
    code_version: str                    # bump when the runner's behaviour changes what it produces
    bookkeeping: bool = False            # asks for no resources; several share one task
    in_driver: bool = False              # runs in the apply driver (deploy drives Serve's controller)
    ignored: frozenset[str] = frozenset()  # spec fields that never change its result (where and how fast it runs)


# ``resources`` covers ``workers``: a fine-tune splits each global batch between its workers, so one
# worker and four compute the same steps (up to float summation order, as with the thread count).
STEPS: dict[str, StepKind] = {kind.name: kind for kind in (
    StepKind("prepare", "runners.steps.prepare", "prepare/1", ignored=frozenset({"license", "resources"})),
    StepKind("prompt", "runners.steps.prompt", "prompt/1", bookkeeping=True),
    StepKind("import", "runners.steps.finetune", "import/1", ignored=frozenset({"resources"})),
    StepKind("finetune", "runners.steps.finetune", "finetune/1", ignored=frozenset({"resources"})),
    StepKind("evaluate", "runners.steps.evaluate", "evaluate/2"),  # 2: metrics.json names the model it evaluated
    StepKind("gate", "runners.steps.gate", "gate/1", bookkeeping=True),
    StepKind("deploy", "runners.steps.deploy", "deploy/1", in_driver=True),
)}

BOOKKEEPING_STEPS = frozenset(name for name, kind in STEPS.items() if kind.bookkeeping)
