"""Budget arithmetic between the static cost model and the ledger.

The static cost model (:class:`archon.graph.StaticCost`) says what one query of a pipeline needs at
worst: calls (exact), tokens (estimated), dollars (when every model has a price). The spec's
``budget.per_query`` bounds that per query; the ledger (:mod:`archon.search.ledger`) holds
search-level amounts as :class:`~archon.search.ledger.Spend`. This module converts and compares.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from archon.search.ledger import Limits, Spend

if TYPE_CHECKING:
    from archon.graph import StaticCost
    from archon.spec.schema import PerQueryBudget

__all__ = ["FINAL_HOLDBACK_CAP", "PerQueryExcess", "add_counts", "final_holdback", "final_queries", "per_query_violation",
           "query_tokens", "spend_of", "stop_text", "worst_case"]

#: The prompt-size estimate when there are no prompts to measure.
DEFAULT_QUERY_TOKENS = 32


def query_tokens(prompts: Sequence[str]) -> int:
    """A generous per-query prompt size estimate (about 3 characters a token, the longest query)."""
    return max((len(p) // 3 + 1 for p in prompts), default=DEFAULT_QUERY_TOKENS)


class PerQueryExcess(NamedTuple):
    """How far a pipeline is over ``budget.per_query``: the largest relative excess over one
    limit (0.0 when it fits; a constraint value for the sampler) and why, in words (None when it
    fits)."""

    violation: float
    reason: str | None


def per_query_violation(static: StaticCost, budget: PerQueryBudget) -> PerQueryExcess:
    """Compare a pipeline's static cost per query with the per-query limits."""
    worst, reason = 0.0, None
    checks: list[tuple[float | None, float | None, str]] = [
        (static.calls, budget.calls, "calls"),
        (static.input_tokens, budget.input_tokens, "input tokens"),
        (static.output_tokens, budget.output_tokens, "output tokens"),
        (static.dollars, budget.dollars, "dollars"),
    ]
    for need, limit, label in checks:
        if limit is None or need is None:
            continue
        if need > limit:
            excess = (need - limit) / limit if limit else float(need)
            if excess > worst:
                worst = excess
                shown = f"{need:.6f}" if label == "dollars" else str(need)
                reason = f"needs {shown} {label} per query, over the per-query limit of {limit}"
    return PerQueryExcess(worst, reason)


def worst_case(static: StaticCost) -> Spend:
    """What one query may spend at most, as the ledger counts it (an unpriced model: $0)."""
    return Spend(dollars=float(static.dollars or 0.0), tokens=int(static.input_tokens + static.output_tokens), calls=int(static.calls))


#: At most this share of each search limit is held back from the trials for the stages after them:
#: the trials always keep the rest (a search without trials has nothing to choose from).
FINAL_HOLDBACK_CAP = 0.5


def final_queries(*, selection: int, test: int, dev: int, candidates: int, models: int) -> int:
    """Pipeline-queries the stages after the trials run: ``candidates`` top trials and the
    baseline on selection; the emitted pipeline, the best by dev and each model's baseline on
    test; with several models, every baseline on dev."""
    return (candidates + 1) * selection + (2 + models) * test + (models * dev if models > 1 else 0)


def final_holdback(per_query: Spend, queries: int, limits: Limits) -> Spend:
    """What the trials leave for choosing the winner and the test comparison.

    Why: a trial reserves whatever budget is left, so without a holdback a search with a dollar,
    token or call limit spends it all on trials, and the selection stage finds nothing left to
    check a winner with: the baseline is emitted for lack of budget, not of evidence. The amount is
    ``queries`` at ``per_query`` (the space's mean worst case, :class:`SearchEstimate`), at most
    :data:`FINAL_HOLDBACK_CAP` of each limit; nothing where there is no limit. The hold is
    released when the trials end, so the stages after them reserve from it like any work (at
    worst case, settling at what they really spend: caches and racing drops make that less).
    """
    def part(need: float, limit: float | None) -> float:
        return 0.0 if limit is None else min(need, FINAL_HOLDBACK_CAP * limit)

    return Spend(dollars=part(per_query.dollars * queries, limits.dollars), tokens=int(part(per_query.tokens * queries, limits.tokens)),
                 calls=int(part(per_query.calls * queries, limits.calls)))


def spend_of(counts: Mapping[str, float]) -> Spend:
    """The ledger's share of a shard's spend counters (calls, tokens, dollars that reached a backend)."""
    return Spend(float(counts.get("dollars", 0.0)), int(counts.get("tokens", 0)), int(counts.get("calls", 0)))


def add_counts(into: MutableMapping[str, float], more: Mapping[str, float]) -> None:
    """Add counters (spend, cost per query) key by key."""
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def _amounts(spend: Spend, limits: Limits, *, with_limits: bool) -> list[str]:
    """``spend`` in each unit that has a limit (followed by the limit when ``with_limits``)."""
    out = []
    for unit, limit, text in (("dollars", limits.dollars, f"${spend.dollars:.4f}"),
                              ("tokens", limits.tokens, f"{spend.tokens:.0f} tokens"),
                              ("calls", limits.calls, f"{spend.calls:.0f} calls")):
        if limit is not None:
            out.append(f"{text} of {'$' if unit == 'dollars' else ''}{limit}" if with_limits else text)
    return out


def stop_text(spent: Spend, limits: Limits, blocked: tuple[int, int, Spend] | None = None) -> str:
    """Why the search budget stops a search: what was spent against each limit, and, for the
    evaluation that could not start (``blocked``: trial number, queries, worst case), what it
    needed."""
    text = ", ".join(_amounts(spent, limits, with_limits=True)) or "no room for the next evaluation"
    if blocked is None:
        return text
    number, queries, need = blocked
    wants = _amounts(need, limits, with_limits=False)
    if wants:
        # say why a search can stop well below its limit: budgets are held at worst case
        text += (f"; the next evaluation (trial {number}, {queries} queries) "
                 f"needs up to {', '.join(wants)} at its worst case, more than is left, so the search stops here "
                 "(the worst case is reserved so that parallel trials can never overspend)")
    return text
