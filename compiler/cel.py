"""The CEL engine: the Rust implementation (PyPI ``common-expression-language``).

Its package ``__init__`` also imports an interactive shell (prompt_toolkit, ~250 ms),
so the compiled extension module is loaded on its own: 15 ms, and nothing else.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


@lru_cache(maxsize=1)
def engine() -> ModuleType:
    """The ``cel.cel`` extension module, loaded without the package's shell."""
    if "cel.cel" in sys.modules:
        return sys.modules["cel.cel"]
    spec = importlib.util.find_spec("cel")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("CEL support needs the package common-expression-language: pip install common-expression-language")
    for folder in spec.submodule_search_locations:
        candidates = [p for p in Path(folder).glob("cel.*") if "".join(p.suffixes[-2:]) in _SUFFIXES or p.suffix in _SUFFIXES]
        for candidate in candidates:
            loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(candidate))
            module_spec = importlib.util.spec_from_file_location("cel.cel", candidate, loader=loader)
            assert module_spec is not None
            module = importlib.util.module_from_spec(module_spec)
            loader.exec_module(module)
            return module
    raise ImportError("the CEL extension module of common-expression-language was not found")


@lru_cache(maxsize=4096)
def cel_syntax_error(expression: str) -> str | None:
    """The parser's message when ``expression`` is not valid CEL, else None."""
    try:
        engine().compile(expression)
    except ValueError as exc:
        return str(exc)
    return None
