#!/usr/bin/env python
"""Benchmark: ``llmops policy check`` of 10,000 resources with the built-in pack, beside ``llmops validate``.

Reports numbers; asserts nothing. For every N in --sizes it

1. generates the spec repository of ``bench/plan_bench.py`` (N resources in chains of
   Dataset -> Model -> EvalGate -> Deployment, shared Prompts, the example's two Policies)
   and checks ``llmops validate`` exits 0 on it;
2. times, as subprocesses with warm caches (each run once first), ``llmops validate DIR``
   and ``llmops policy check DIR``: the check's own cost is the difference;
3. times in-process, after one compilation, ``check_policies`` alone (the target: < 2 s at
   N = 10,000) and its stages.

Then, with --engines, it compares the CEL implementations on PyPI on the built-in pack over
the same resources (the variables each rule reads, built once and handed to every engine):
cel-expr-python (Google's cel-cpp; what llmops uses), common-expression-language (Rust
cel-interpreter; no longer a dependency, compared where installed) and cel-python (pure Python, slow: it
runs on the first --celpy-resources resources only, and every engine is also timed on
that same subset so the row compares like with like). Correctness: a table of CEL
conformance cases (numeric types, has(), macros, strings, errors), and whether each engine
reaches the same verdict as cel-expr-python on every (resource, rule) of the pack.

    . .venv/bin/activate
    python bench/policy_bench.py                        # N = 10000, with the engine comparison
    python bench/policy_bench.py --sizes 1000,10000 --repeat 5 --json /tmp/policy-bench.json
    python bench/policy_bench.py --no-engines           # the policy check only
"""

from __future__ import annotations

import argparse
import importlib.machinery
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from plan_bench import cli_env, generate_llmops, llmops_cmd, make_chains, timed

TARGET_S = 2.0
TARGET_AT = 10_000


def median(values: list[float]) -> float:
    return statistics.median(values)


def time_cli(root: Path, args: list[str], repeat: int, ok: tuple[int, ...] = (0,)) -> list[float]:
    cmd = [*llmops_cmd(), *args, str(root)]
    timed(cmd, cwd=root.parent, env=cli_env(), ok=ok)  # warm the caches
    return [timed(cmd, cwd=root.parent, env=cli_env(), ok=ok)[0] for _ in range(repeat)]


def stages(compilation: Any) -> dict[str, float]:
    """check_policies' stages, timed as it runs them (CPU-bound, so wall time)."""
    from compiler.policy.builtin import BUILTIN
    from compiler.policy.context import RuleContext
    from compiler.policy.engine import activation, compile_rule, evaluate
    from compiler.policy.lineage import RESOURCE_KINDS, build_lineage
    from compiler.policy.rules import effective_rules
    from compiler.policy.secrets import find_secrets

    clock = time.perf_counter
    out: dict[str, float] = {}
    t = clock()
    rules, _ = effective_rules(compilation.project, BUILTIN)
    compiled = [(rule, compile_rule(rule.expression)) for rule in rules]
    out["compile rules"] = clock() - t
    t = clock()
    lineage = build_lineage(compilation.project)
    out["lineage"] = clock() - t
    t = clock()
    secrets = find_secrets(compilation.project)
    out["secrets"] = clock() - t
    context = RuleContext(compilation.project, lineage, secrets)
    by_kind = {kind: [(r, p) for r, p in compiled if not r.kinds or kind in r.kinds] for kind in RESOURCE_KINDS}
    t = clock()
    work = []
    for ref, labels in lineage.labels.items():
        matching = [(r, p) for r, p in by_kind[ref.kind] if r.applies_to(ref.kind, ref.name, labels)]
        if matching:
            work.append((matching, context.variables(ref, frozenset().union(*(r.variables for r, _ in matching)))))
    out["match + variables"] = clock() - t
    t = clock()
    for matching, variables in work:
        bound = activation(variables)
        for _, program in matching:
            evaluate(program, bound)
    out["engine (convert + evaluate)"] = clock() - t
    return out


def time_check(root: Path, repeat: int) -> dict[str, Any]:
    from compiler import compile_project
    from compiler.policy import check_policies

    compilation = compile_project(root)
    gc.freeze()
    check_policies(compilation)  # imports, detect-secrets included when needed
    samples, cpu, report = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        report = check_policies(compilation)
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    parts = [stages(compilation) for _ in range(repeat)]
    return {"check_s": samples, "check_cpu_s": cpu, "summary": report.summary() if report else "",
            "stages_s": {k: median([p[k] for p in parts]) for k in parts[0]}, "compilation": compilation}


# --------------------------------------------------------------------------------------------------------------------
# The CEL engines, behind one shape: compile(expression) -> program; bind(variables) -> context;
# run(program, context) -> True | False | "error"
# --------------------------------------------------------------------------------------------------------------------


class Engine:
    name = ""
    package = ""

    def compile(self, expression: str) -> Any: ...
    def bind(self, variables: dict[str, Any]) -> Any: ...
    def run(self, program: Any, bound: Any) -> bool | str: ...


class CelCpp(Engine):
    name, package = "cel-expr-python (cel-cpp)", "cel-expr-python"

    def __init__(self) -> None:
        from compiler.policy import engine

        self.engine = engine

    def compile(self, expression: str) -> Any:
        program = self.engine.compile_rule(expression)
        if isinstance(program, self.engine.CompileError):
            raise ValueError(program.message)
        return program

    def bind(self, variables: dict[str, Any]) -> Any:
        return self.engine.activation(variables)

    def run(self, program: Any, bound: Any) -> bool | str:
        outcome = self.engine.evaluate(program, bound)
        return outcome if isinstance(outcome, bool) else "error"


class CelRust(Engine):
    name, package = "common-expression-language (Rust)", "common-expression-language"

    def __init__(self) -> None:  # no longer a dependency of llmops: compared only where it is installed
        import importlib.util

        spec = importlib.util.find_spec("cel")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("common-expression-language is not installed")
        folder = Path(next(iter(spec.submodule_search_locations)))
        binary = next(folder.glob("cel.*.so"), None) or next(folder.glob("cel.*.pyd"), None)
        if binary is None:
            raise ImportError("the extension module of common-expression-language was not found")
        loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(binary))  # its __init__ imports a shell
        module = importlib.util.module_from_spec(importlib.util.spec_from_file_location("cel.cel", binary, loader=loader))
        loader.exec_module(module)
        self.cel = module

    def compile(self, expression: str) -> Any:
        return self.cel.compile(expression)

    def bind(self, variables: dict[str, Any]) -> Any:
        return self.cel.Context(variables)

    def run(self, program: Any, bound: Any) -> bool | str:
        try:
            value = program.execute(bound)
        except Exception:  # the binding raises a Python error (KeyError, TypeError, ...) for a CEL error
            return "error"
        return value if isinstance(value, bool) else "error"


class CelPython(Engine):
    name, package = "cel-python (pure Python)", "cel-python"

    def __init__(self) -> None:
        import celpy

        self.celpy = celpy
        self.env = celpy.Environment()

    def compile(self, expression: str) -> Any:
        return self.env.program(self.env.compile(expression))

    def bind(self, variables: dict[str, Any]) -> Any:
        return {name: self.celpy.json_to_cel(value) for name, value in variables.items()}

    def run(self, program: Any, bound: Any) -> bool | str:
        try:
            value = program.evaluate(bound)
        except Exception:
            return "error"
        return bool(value) if isinstance(value, self.celpy.celtypes.BoolType) else "error"


ENGINES: tuple[Callable[[], Engine], ...] = (CelCpp, CelRust, CelPython)

CONFORMANCE: list[tuple[str, dict[str, Any], bool | str]] = [  # expression, variables, expected (True/False/"error")
    ("1 + 2 == 3", {}, True),
    ("1 + 1u == 2", {}, "error"),  # no arithmetic across int and uint
    ("1u + 2u == 3u", {}, True),
    ("2.0 * 3.0 == 6.0", {}, True),
    ("dyn(1) == 1.0", {}, True),  # numeric equality across types at run time (cel-spec since 2022)
    ("dyn(1) == 1u", {}, True),
    ("9223372036854775807 + 1 > 0", {}, "error"),  # int64 overflow is an error
    ("18446744073709551615u + 1u > 0u", {}, "error"),
    ("1 / 0 == 0", {}, "error"),
    ("has(resource.a)", {"resource": {"a": 1}}, True),
    ("has(resource.b)", {"resource": {"a": 1}}, False),
    ("resource.b == 1", {"resource": {"a": 1}}, "error"),  # a missing field is an error, not null
    ("[1, 2, 3].exists(x, x > 2)", {}, True),
    ("[1, 2, 3].all(x, x > 0)", {}, True),
    ("[1, 2, 3].exists_one(x, x > 1)", {}, False),
    ("[1, 2, 3].filter(x, x > 1).map(x, x * 2) == [4, 6]", {}, True),
    ("{'a': 1, 'b': 2}.exists(k, k == 'b')", {}, True),
    ("'hello'.startsWith('he') && 'hello'.endsWith('lo') && 'hello'.contains('ell')", {}, True),
    ("'abc'.matches('^a.c$') && 'ABC'.matches('(?i)abc')", {}, True),
    ("size('héllo') == 5", {}, True),  # code points, not bytes
    ("'a' in ['a', 'b'] && 'k' in {'k': 1}", {}, True),
    ("false && (1 / 0 == 1)", {}, False),
    ("(1 / 0 == 1) || true", {}, True),  # errors are absorbed by a decisive other side
    ("int('42') == 42 && string(7) == '7' && double('1.5') == 1.5", {}, True),
    ("type(1u) == uint", {}, True),
]


def conformance(engine: Engine) -> tuple[int, list[str]]:
    failed: list[str] = []
    for expression, variables, expected in CONFORMANCE:
        try:
            got: bool | str = engine.run(engine.compile(expression), engine.bind(variables))
        except Exception:
            got = "error"  # rejected when compiled: a type error found before running, as the spec allows
        if got != expected:
            failed.append(f"{expression}  ->  {got} (expected {expected})")
    return len(CONFORMANCE) - len(failed), failed


def pack_work(compilation: Any) -> list[tuple[list[tuple[str, str]], dict[str, Any]]]:
    """Per resource: the (rule id, expression) of each matching rule, and the variables they read, as built by llmops."""
    from compiler.policy.builtin import BUILTIN
    from compiler.policy.context import RuleContext
    from compiler.policy.lineage import build_lineage
    from compiler.policy.rules import effective_rules
    from compiler.policy.secrets import find_secrets

    project = compilation.project
    rules, _ = effective_rules(project, BUILTIN)
    lineage = build_lineage(project)
    context = RuleContext(project, lineage, find_secrets(project))
    work = []
    for ref, labels in lineage.labels.items():
        matching = [r for r in rules if r.applies_to(ref.kind, ref.name, labels)]
        if matching:
            names = frozenset().union(*(r.variables for r in matching))
            work.append(([(r.id, r.expression) for r in matching], context.variables(ref, names)))
    return work


def run_pack(engine: Engine, work: list, limit: int | None = None) -> tuple[float, list[bool | str], int]:
    """Seconds to compile every rule and evaluate the pack over ``work`` (conversion included), the verdicts, and evaluations."""
    t = time.perf_counter()
    programs: dict[str, Any] = {}
    verdicts: list[bool | str] = []
    for rules, variables in work[:limit]:
        bound = engine.bind(variables)
        for rule_id, expression in rules:
            program = programs.get(rule_id)
            if program is None:
                program = programs[rule_id] = engine.compile(expression)
            verdicts.append(engine.run(program, bound))
    return time.perf_counter() - t, verdicts, len(verdicts)


def compare_engines(compilation: Any, repeat: int, subset: int) -> list[dict[str, Any]]:
    from importlib.metadata import version

    work = pack_work(compilation)
    rows: list[dict[str, Any]] = []
    reference: list[bool | str] | None = None
    for make in ENGINES:
        try:
            engine = make()
        except ImportError as exc:
            rows.append({"engine": make.name, "error": f"not installed: {exc}"})
            continue
        passed, failed = conformance(engine)
        row: dict[str, Any] = {"engine": engine.name, "version": version(engine.package),
                               "conformance": f"{passed}/{len(CONFORMANCE)}", "failed": failed}
        small = [run_pack(engine, work, subset) for _ in range(repeat)]
        row["subset_resources"] = min(subset, len(work))
        row["subset_s"] = median([s for s, _, _ in small])
        if engine.name.startswith("cel-python"):
            row["full_s"], verdicts = None, small[0][1]
        else:
            full = [run_pack(engine, work) for _ in range(repeat)]
            row["full_s"], verdicts = median([s for s, _, _ in full]), full[0][1]
            row["evaluations"] = full[0][2]
        if reference is None:
            reference = verdicts
        row["disagreements"] = sum(a != b for a, b in zip(reference, verdicts))
        rows.append(row)
    return rows


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=str(TARGET_AT), help="comma-separated N (chain resources); default %(default)s")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing, median reported (default %(default)s)")
    parser.add_argument("--no-engines", dest="engines", action="store_false", help="skip the CEL engine comparison")
    parser.add_argument("--celpy-resources", type=int, default=500,
                        help="resources of the engine subset (cel-python is timed on these only; default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--workdir", type=Path, help="where to generate the projects (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="llmops-policy-bench-"))
    results: dict[str, Any] = {"python": sys.version.split()[0], "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
                               "load_average": os.getloadavg(),
                               "repeat": args.repeat, "statistic": "median", "sizes": [], "engines": []}
    try:
        compilation = None
        for n in sizes:
            root = workdir / f"n{n}" / "specs"
            shutil.rmtree(root.parent, ignore_errors=True)
            log(f"N={n}: generating")
            generated = generate_llmops(root, make_chains(n))
            log(f"N={n}: timing validate and policy check")
            validate = time_cli(root, ["validate"], args.repeat)
            check = time_cli(root, ["policy", "check"], args.repeat)
            log(f"N={n}: timing check_policies in-process")
            inproc = time_check(root, args.repeat)
            compilation = inproc.pop("compilation")
            results["sizes"].append({"n": n, "resources": generated["resources_total"], "validate_s": median(validate),
                                     "policy_check_s": median(check), "check_policies_s": median(inproc["check_s"]),
                                     "check_policies_cpu_s": median(inproc["check_cpu_s"]),
                                     "samples": {"validate": validate, "policy_check": check, "check": inproc["check_s"]},
                                     "stages_s": inproc["stages_s"], "summary": inproc["summary"]})
        if args.engines and compilation is not None:
            log(f"engines: the pack over N={sizes[-1]}, and the first {args.celpy_resources} resources for all three")
            results["engines"] = compare_engines(compilation, args.repeat, args.celpy_resources)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(report(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nJSON written to {args.json}")
    return 0


def report(results: dict[str, Any]) -> list[str]:
    load = ", ".join(f"{x:.1f}" for x in results["load_average"])
    out = [(f"llmops policy check benchmark; python {results['python']}; {results['machine']} (load average at start "
            f"{load}); medians of {results['repeat']} runs, warm caches, wall clock"), "",
           ("| N | resources | validate s | policy check s | check - validate s | check_policies s (in-process) | "
            f"its CPU s | target < {TARGET_S:g} s |"),
           "|---|---|---|---|---|---|---|---|"]
    for row in results["sizes"]:
        verdict = ("met" if row["check_policies_s"] < TARGET_S else "NOT MET") if row["n"] >= TARGET_AT else "n/a"
        out.append(f"| {row['n']} | {row['resources']} | {row['validate_s']:.2f} | {row['policy_check_s']:.2f} | "
                   f"{row['policy_check_s'] - row['validate_s']:.2f} | {row['check_policies_s']:.2f} | "
                   f"{row['check_policies_cpu_s']:.2f} | {verdict} |")
    for row in results["sizes"]:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in row["stages_s"].items())
        out.append(f"\nN={row['n']}: {row['summary']}; stages (s): {parts}")
    if results["engines"]:
        subset = next((r["subset_resources"] for r in results["engines"] if "subset_resources" in r), 0)
        out += ["", "CEL engines, the built-in pack (compile + convert + evaluate; the variables built once by llmops):", "",
                (f"| engine | version | all resources s | evaluations | first {subset} resources s | conformance | "
                 "verdicts differing from cel-expr-python |"), "|---|---|---|---|---|---|---|"]
        for row in results["engines"]:
            if "error" in row:
                out.append(f"| {row['engine']} | {row['error']} | | | | | |")
                continue
            full = f"{row['full_s']:.3f}" if row["full_s"] is not None else "(subset only)"
            out.append(f"| {row['engine']} | {row['version']} | {full} | {row.get('evaluations', '-')} | "
                       f"{row['subset_s']:.3f} | {row['conformance']} | {row['disagreements']} |")
        for row in results["engines"]:
            for failure in row.get("failed", []):
                out.append(f"  {row['engine']}: {failure}")
    return out


if __name__ == "__main__":
    sys.exit(main())
