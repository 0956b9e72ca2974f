"""The import direction is the architecture; validate and plan stay light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

LAYERS = {"llmops_spec": 0, "compiler": 1, "runners": 2, "llmops_cli": 3}
HEAVY = ("torch", "ray", "transformers", "peft", "dvc")


def imported_packages(package: str):
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield path.relative_to(REPO), node.lineno, name.split(".")[0]


@pytest.mark.parametrize("package", list(LAYERS))
def test_no_import_points_up_the_stack(package):
    upward = [(str(f), line, top) for f, line, top in imported_packages(package)
              if top in LAYERS and LAYERS[top] > LAYERS[package]]
    assert upward == []


@pytest.mark.parametrize("package", ["llmops_spec", "compiler"])
def test_pure_layers_never_name_heavy_libraries(package):
    assert [(str(f), line, top) for f, line, top in imported_packages(package) if top in HEAVY] == []


@pytest.mark.parametrize("command", [["validate", "specs"], ["validate", "--no-cache", "specs"], ["plan", "specs"],
                                     ["plan", "--no-cache", "--no-refresh", "specs"], ["graph", "specs"],
                                     ["fmt", "--check", "specs"], ["schema", "--kind", "Model"],
                                     ["policy", "check", "specs"]])
def test_light_commands_import_no_heavy_library(command):
    probe = (
        "import json, sys\n"
        "from llmops_cli.main import main\n"
        "try:\n"
        f"    main({command!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    code, heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert code in (0, None) and heavy == []


def test_the_heavy_libraries_are_installed_so_the_check_means_something():
    import importlib.util

    assert all(importlib.util.find_spec(name) for name in HEAVY)
