"""A running search as Ray metrics: what the Ray dashboard's metrics view and Prometheus show.

Ray's dashboard lists tasks (``trial-<n>/shard-<k>``); these metrics say how the search itself is
going. They are published from the driver with ``ray.util.metrics`` and exported by the driver's
Ray node like every Ray metric (a Prometheus endpoint on the node's metrics port; Ray prefixes the
names with ``ray_``). Every series carries the tag ``search`` (the study's name):

- ``archon_search_trials{outcome}``: trials by outcome (complete, pruned, infeasible, failed,
  budget, ...), the trials of earlier sessions of a resumed search included; and
  ``archon_search_trials_running``.
- ``archon_search_best_score``: the best dev score of a complete trial so far.
- ``archon_search_spent{unit}`` and ``archon_search_budget_limit{unit}``: the search's spend
  (all sessions, from its budget ledger) in dollars, tokens and calls, beside each limit the spec
  sets.
- ``archon_search_calls{answered_by}``: this session's model calls, by who answered them:
  ``backend`` (paid for) or ``cache`` (the cluster's call cache, in-flight sharing included).

docs/cluster.md shows how to look at them.
"""

from __future__ import annotations

import time
from typing import Any

from optuna.trial import TrialState

from archon.search.rundir import STATUS_KEY

__all__ = ["SearchMetrics"]

#: seconds between updates of the spend and call gauges (events update at once)
_EVERY = 1.0


class SearchMetrics:
    """Publishes ``driver``'s progress: :meth:`event` is a listener of its trial outcomes,
    :meth:`refresh` a ticker of its loop."""

    def __init__(self, driver: Any, *, name: str) -> None:
        from ray.util.metrics import Gauge  # lazy: Ray loads lazily (see archon.search)

        self.driver = driver
        self._tags = {"search": name}
        self._trials = Gauge("archon_search_trials", description="Trials of the search by outcome",
                             tag_keys=("search", "outcome"))
        self._running = Gauge("archon_search_trials_running", description="Trials being evaluated now",
                              tag_keys=("search",))
        self._best = Gauge("archon_search_best_score", description="Best dev score of a complete trial so far",
                           tag_keys=("search",))
        self._spent = Gauge("archon_search_spent", description="Search spend so far (all sessions), by unit",
                            tag_keys=("search", "unit"))
        self._limit = Gauge("archon_search_budget_limit", description="The search budget's limit, by unit",
                            tag_keys=("search", "unit"))
        self._calls = Gauge("archon_search_calls", description="Model calls of this session, by who answered them",
                            tag_keys=("search", "answered_by"))
        self._outcomes: dict[str, int] = {}
        self._best_value: float | None = None
        self._last = 0.0
        self._from_study()
        limits = driver.ledger.limits
        for unit in ("dollars", "tokens", "calls", "wall_time"):
            value = getattr(limits, unit, None)
            if value is not None:
                self._limit.set(float(value), tags={**self._tags, "unit": unit})
        self.refresh(force=True)

    def _from_study(self) -> None:
        """What earlier sessions of this search already decided (a resumed search)."""
        for t in self.driver.study.get_trials(deepcopy=False):
            status = t.user_attrs.get(STATUS_KEY)
            if status and t.state != TrialState.RUNNING:
                self._outcomes[status] = self._outcomes.get(status, 0) + 1
            if status == "complete" and t.values:
                self._note_best(float(t.values[0]))
        for outcome, n in self._outcomes.items():
            self._trials.set(n, tags={**self._tags, "outcome": outcome})

    def _note_best(self, value: float) -> None:
        if self._best_value is None or value > self._best_value:
            self._best_value = value
            self._best.set(value, tags=self._tags)

    def event(self, kind: str, number: int, data: Any) -> None:
        """A trial's outcome (the driver's ``emit``)."""
        self._outcomes[kind] = self._outcomes.get(kind, 0) + 1
        self._trials.set(self._outcomes[kind], tags={**self._tags, "outcome": kind})
        if kind == "complete" and isinstance(data, list) and data:
            self._note_best(float(data[0]))  # accuracy is the first objective
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Spend and calls (the driver's ``tick``; at most once a second)."""
        now = time.monotonic()
        if not force and now - self._last < _EVERY:
            return
        self._last = now
        d = self.driver
        spent = d.ledger.totals().spent
        for unit in ("dollars", "tokens", "calls"):
            self._spent.set(float(getattr(spent, unit)), tags={**self._tags, "unit": unit})
        self._spent.set(float(d.ledger.elapsed()), tags={**self._tags, "unit": "wall_time"})
        self._calls.set(float(d.totals_spent.get("calls", 0)), tags={**self._tags, "answered_by": "backend"})
        self._calls.set(float(d.totals_spent.get("cached_calls", 0)), tags={**self._tags, "answered_by": "cache"})
        self._running.set(float(len(d.runs)), tags=self._tags)
