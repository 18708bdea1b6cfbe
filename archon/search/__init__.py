"""The search: Optuna over a space of pipelines under a compute budget, shards as Ray tasks.

    from archon.search import run_search
    result = run_search("search_spaces/quickstart.yaml")
    result.best.score, result.run_dir / "best.yaml"

Modules, one job each: :mod:`~archon.search.driver` (ask-and-tell loop),
:mod:`~archon.search.samplers`, :mod:`~archon.search.fidelity` (successive halving),
:mod:`~archon.search.ledger` (budget), :mod:`~archon.search.dispatch` (Ray / in-process),
:mod:`~archon.search.evaluation` (one shard, in a worker), :mod:`~archon.search.rundir`
(storage, resume), :mod:`~archon.search.estimate` (dry run), :mod:`~archon.search.final`
(test split vs baselines), :mod:`~archon.search.report` (outputs). Optuna and Ray load lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archon.search.driver import SearchResult, TrialSummary, run_search
    from archon.search.ledger import BudgetLedger, Limits, Spend

__all__ = ["BudgetLedger", "Limits", "SearchResult", "Spend", "TrialSummary", "run_search"]

_LAZY = {
    "run_search": "archon.search.driver",
    "SearchResult": "archon.search.driver",
    "TrialSummary": "archon.search.driver",
    "BudgetLedger": "archon.search.ledger",
    "Limits": "archon.search.ledger",
    "Spend": "archon.search.ledger",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archon.search' has no attribute {name!r}")
