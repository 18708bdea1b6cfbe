"""Running pipelines: the :class:`Executor` (a pipeline over a batch of queries, node by node)
and :func:`load_pipeline` (a pipeline file ready to answer queries).

The records (defined in :mod:`archon.components.types`, a lower layer) load eagerly; the
executor and the file loader load on first use, which keeps ``import archon.components`` free of
an import cycle and ``import archon.runtime`` cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archon.components.types import CallRecord, Candidate, Cost, ParseFailure, QueryResult, QueryState, sample_seed

if TYPE_CHECKING:
    from archon.runtime.api import LoadedPipeline, compile_spec_file, load_pipeline
    from archon.runtime.executor import Executor, node_calls

__all__ = [
    "CallRecord",
    "Candidate",
    "Cost",
    "Executor",
    "LoadedPipeline",
    "ParseFailure",
    "QueryResult",
    "QueryState",
    "compile_spec_file",
    "sample_seed",
    "load_pipeline",
    "node_calls",
]

_LAZY = {
    "Executor": "archon.runtime.executor",
    "node_calls": "archon.runtime.executor",
    "LoadedPipeline": "archon.runtime.api",
    "compile_spec_file": "archon.runtime.api",
    "load_pipeline": "archon.runtime.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archon.runtime' has no attribute {name!r}")
