"""Process-wide torch settings a step needs before it computes: threads, seeds, quiet libraries.

Ray gives a task a number of CPUs but torch sizes its thread pool from the machine; a task
that asked for 2 CPUs on a 64-core host would otherwise run 64 threads and fight its
neighbours. Seeds are set from the spec so two runs of the same spec match bit for bit.
"""

from __future__ import annotations

import logging
import os
import random
import warnings
from contextlib import contextmanager
from collections.abc import Iterator


def use_threads(num_cpus: float | int | None) -> int:
    """Size torch's intra-op pool to the CPUs this task was given (at least one); return the count."""
    import torch

    threads = max(1, int(num_cpus)) if num_cpus else max(1, min(torch.get_num_threads(), os.cpu_count() or 1))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, so weight init, dropout and shuffling repeat exactly."""
    import numpy
    import torch

    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def quiet_libraries() -> None:
    """Silence transformers' and peft's advice to the console (e.g. "you should train this model"):
    a step reports through its result, and a newly initialized classifier head is expected here."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("peft").setLevel(logging.ERROR)
    # transformers 5.23 asks peft-wrapped models a deprecated question on every call; not the user's concern
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextmanager
def torch_ao_deprecations_silenced() -> Iterator[None]:
    """torch 2.13 still ships eager dynamic quantization but warns on every call that torchao
    will replace it; the warning is for library authors, not for someone serving a model."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*deprecated.*")
        yield
