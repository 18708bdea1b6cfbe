"""Running pipelines: the :class:`Executor` runs a compiled pipeline over a batch of queries, node
by node. The query and candidate records it produces are defined in :mod:`archon.components.types`
(the components build them) and re-exported here.

Loading a pipeline *file* ready to answer queries is :func:`archon.load_pipeline`
(:mod:`archon.pipeline_file`, above the benchmarks a file may take its few-shot examples from).
"""

from __future__ import annotations

from archon.components.types import CallRecord, Candidate, Cost, ParseFailure, QueryResult, QueryState, sample_seed
from archon.runtime.executor import Executor, node_calls

__all__ = [
    "CallRecord",
    "Candidate",
    "Cost",
    "Executor",
    "ParseFailure",
    "QueryResult",
    "QueryState",
    "node_calls",
    "sample_seed",
]
