"""PNG charts of a run (loss curve, confusion matrix), drawn with matplotlib's Agg backend (no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runners.step import NodeFailed


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise NodeFailed("matplotlib is not installed; the step draws its charts with it",
                         "pip install matplotlib (part of llmops-spec's run extra)", retryable=False) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def plot_loss(path: Path, steps: Sequence[int], losses: Sequence[float], title: str) -> None:
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.plot(list(steps), list(losses), linewidth=1.5)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)


def plot_confusion(path: Path, matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> None:
    pyplot = _pyplot()
    size = max(3.5, 0.6 * len(labels) + 2)
    figure, axes = pyplot.subplots(figsize=(size, size), dpi=100)
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels=list(labels), rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels=list(labels))
    axes.set_xlabel("predicted")
    axes.set_ylabel("reference")
    axes.set_title(title, fontsize=10)
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)
