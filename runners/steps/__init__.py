"""One module per step (prepare, finetune, evaluate, ...), each exposing ``run(ctx) -> StepResult``."""
