"""A step for tests: it succeeds and writes nothing (a bug a real step could have: it wrote outside ctx.out)."""

from runners.step import StepResult


def run(ctx):
    return StepResult(summary="wrote nothing")
