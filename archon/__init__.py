"""archon: search layered LLM-system architectures under a compute budget.

Public API (one import deep; heavy dependencies load lazily on first use)::

    from archon import load_spec, load_pipeline, search
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_pipeline", "load_spec", "search"]

_LAZY = {
    "load_spec": ("archon.spec", "load_spec_file"),
    "load_pipeline": ("archon.pipeline_file", "load_pipeline"),
    "search": ("archon.search", "run_search"),
}


def __getattr__(name: str) -> Any:
    # lazy on purpose: ``import archon`` (which ``archon --help`` does) must not pull in Optuna,
    # Ray or litellm; each entry point loads its layer on first use
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'archon' has no attribute {name!r}")
