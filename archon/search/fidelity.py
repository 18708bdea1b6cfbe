"""Multi-fidelity: successive halving over the dev split.

A new architecture is first scored on the first ``min_queries`` dev records (rung 0); only the
promising ones go on to ``min_queries * factor``, then ``* factor**2`` ... and finally the whole
dev split. Rungs are *nested prefixes* of dev, and a promotion only evaluates the records the
previous rung did not cover, so nothing is evaluated twice (and if it were, the call cache would
answer it).

Who decides a promotion:

* single objective — Optuna's :class:`~optuna.pruners.SuccessiveHalvingPruner`, fed through
  ``trial.report(accuracy, step=n_queries)`` / ``trial.should_prune()``. Its rung ``k`` sits at
  ``min_resource * factor**k`` queries, which is exactly our rung ``k``.
* multiple objectives — Optuna's pruners do not support them, so :func:`promote_multi_objective`
  does the same job: among the trials that finished rung ``k``, a trial goes on when it is on the
  first non-dominated front, or within the best ``1/factor`` by (front, accuracy). The first
  ``factor - 1`` trials at a rung are promoted unconditionally (nothing to compare with yet).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import optuna

__all__ = ["make_pruner", "promote_multi_objective", "rung_sizes", "non_dominated_ranks"]


def rung_sizes(dev_size: int, *, min_queries: int, factor: int, enabled: bool = True) -> list[int]:
    """Number of dev records evaluated at each rung, increasing, the last one ``dev_size``.

    >>> rung_sizes(50, min_queries=8, factor=3)
    [8, 24, 50]
    >>> rung_sizes(50, min_queries=8, factor=3, enabled=False)
    [50]
    """
    if dev_size <= 0:
        return [0]
    if not enabled or min_queries >= dev_size:
        return [dev_size]
    sizes = []
    n = min_queries
    while n < dev_size:
        sizes.append(n)
        n *= factor
    sizes.append(dev_size)
    return sizes


def make_pruner(*, min_queries: int, factor: int, kind: str = "sha") -> optuna.pruners.BasePruner:
    """The Optuna pruner for a single-objective search (``sha`` or ``hyperband``)."""
    import optuna  # the rung arithmetic above is used without optuna (dry run, tests)

    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min_queries, reduction_factor=factor)
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=min_queries, reduction_factor=factor, min_early_stopping_rate=0, bootstrap_count=0
    )


def _dominates(a: Sequence[float], b: Sequence[float], signs: Sequence[int]) -> bool:
    """a dominates b; ``signs`` is +1 for maximised objectives, -1 for minimised ones."""
    better_or_equal = all(s * x >= s * y for x, y, s in zip(a, b, signs))
    strictly = any(s * x > s * y for x, y, s in zip(a, b, signs))
    return better_or_equal and strictly


def non_dominated_ranks(points: Sequence[Sequence[float]], signs: Sequence[int]) -> list[int]:
    """Front index (0 = non-dominated) of each point, by repeated non-dominated filtering."""
    remaining = set(range(len(points)))
    ranks = [0] * len(points)
    front = 0
    while remaining:
        current = {
            i for i in remaining if not any(_dominates(points[j], points[i], signs) for j in remaining if j != i)
        }
        for i in current:
            ranks[i] = front
        remaining -= current
        front += 1
    return ranks


def promote_multi_objective(
    values: Sequence[float], competitors: Sequence[Sequence[float]], *, factor: int, signs: Sequence[int]
) -> bool:
    """Whether a trial with ``values`` at some rung goes on to the next one.

    ``competitors`` are the values of the *other* trials that finished the same rung.
    """
    points = [list(values)] + [list(c) for c in competitors]
    n = len(points)
    if n < factor:
        return True
    ranks = non_dominated_ranks(points, signs)
    if ranks[0] == 0:
        return True
    keep = math.ceil(n / factor)
    # order by front, then by the first objective (accuracy, maximised)
    order = sorted(range(n), key=lambda i: (ranks[i], -signs[0] * points[i][0], i))
    return order.index(0) < keep
