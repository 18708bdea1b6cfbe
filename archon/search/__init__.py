"""The search: Optuna over a space of pipelines under a compute budget, shards as Ray tasks.

    from archon.search import run_search
    result = run_search("search_spaces/quickstart.yaml")
    result.best.score, result.run_dir / "best.yaml"

Modules, one job each (each imports only the ones listed before it, :mod:`run` excepted,
which assembles them all):

* :mod:`~archon.search.stats`, :mod:`~archon.search.ledger` (the search budget),
  :mod:`~archon.search.budget` (static cost vs ``budget.per_query``, worst cases as ledger
  amounts), :mod:`~archon.search.fidelity` (successive halving), :mod:`~archon.search.samplers`,
  :mod:`~archon.search.rundir` (storage, resume), :mod:`~archon.search.estimate` (dry run),
  :mod:`~archon.search.outcome` (the result records);
* :mod:`~archon.search.evaluation` (one shard, in a worker), :mod:`~archon.search.ray_watchdog`,
  :mod:`~archon.search.dispatch` (Ray / in-process), :mod:`~archon.search.scoring` (shard
  settings; one pipeline on records of a split);
* :mod:`~archon.search.selection` (the winner, raced on held-out records),
  :mod:`~archon.search.final` (baselines, what is emitted, the test split),
  :mod:`~archon.search.charts`, :mod:`~archon.search.report_data` (the facts a search reports),
  :mod:`~archon.search.report_html`, :mod:`~archon.search.report` (run directory outputs),
  :mod:`~archon.search.driver` (the trial loop),
  :mod:`~archon.search.live` (console), :mod:`~archon.search.replay` (replay tables);
* :mod:`~archon.search.run` (``run_search``: assembles the pieces).

Optuna and Ray load lazily: importing this package loads neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archon.search.ledger import BudgetLedger, Limits, Spend
    from archon.search.outcome import SearchResult, TrialSummary
    from archon.search.run import SearchOptions, run_search

__all__ = ["BudgetLedger", "Limits", "SearchOptions", "SearchResult", "Spend", "TrialSummary", "run_search"]

_LAZY = {
    "run_search": "archon.search.run",
    "SearchOptions": "archon.search.run",
    "SearchResult": "archon.search.outcome",
    "TrialSummary": "archon.search.outcome",
    "BudgetLedger": "archon.search.ledger",
    "Limits": "archon.search.ledger",
    "Spend": "archon.search.ledger",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archon.search' has no attribute {name!r}")
