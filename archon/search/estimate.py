"""``archon search --dry-run``: the size of the space and what the search would cost, before
anything is spent.

The estimate samples as many points from the space as the search has trials (seeded, so the
same spec gives the same estimate) and takes their static per-query costs. Then:

* **fidelity** — with successive halving at factor ``f``, about ``1/f**k`` of the trials reach
  rung ``k``; a trial's expected dev queries are ``sum_k (r_k - r_{k-1}) / f**k``.
* **cache reuse** — a generate call is the same call (and one cache entry) in every trial that
  has the same model, prompt settings, sampling settings and sample index; the estimate counts
  how many of the sampled trials' generate calls are distinct. Calls of later nodes depend on
  the candidates before them and are counted as new.
* **final test** — the best pipeline and one baseline per model on the test split.

Points that are invalid or exceed the per-query budget are counted but cost nothing: they are
never evaluated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archon.graph import Pipeline, StaticCost
from archon.search.budget import final_holdback, per_query_violation
from archon.search.ledger import Limits, Spend

if TYPE_CHECKING:
    from archon.space import Space
    from archon.spec.schema import Settings

__all__ = ["SearchEstimate", "estimate_search"]


@dataclass
class SearchEstimate:
    space_size: str
    space_exact: int | None
    trials: int
    sampled: int
    infeasible: int
    invalid: int
    rungs: list[int]
    queries_per_trial: float
    calls_per_query: float  # mean over sampled feasible points
    calls_no_fidelity_no_cache: float  # every trial on full dev, no cache (Archon's way)
    calls_expected: float  # with fidelity and expected cache reuse
    cache_reuse: float  # fraction of generate calls that are repeats
    tokens_expected: float
    dollars_expected: float | None
    test_calls: float
    #: mean static worst case of one query over the sampled feasible points (what the stages
    #: after the trials are budgeted at: archon.search.budget.final_holdback)
    per_query: Spend = field(default_factory=Spend)
    #: what the trials leave for the stages after them (zero where there is no limit)
    held_back: Spend = field(default_factory=Spend)
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        d = f"${self.dollars_expected:.4f}" if self.dollars_expected is not None else "unknown (a model has no price)"
        return [
            ("space size", self.space_size),
            ("trials", str(self.trials)),
            ("sampled points (infeasible / invalid)", f"{self.sampled} ({self.infeasible} / {self.invalid})"),
            ("dev rungs (queries)", " -> ".join(map(str, self.rungs))),
            ("expected dev queries per trial", f"{self.queries_per_trial:.1f}"),
            ("mean calls per query", f"{self.calls_per_query:.1f}"),
            ("calls, full dev & no cache", f"{self.calls_no_fidelity_no_cache:,.0f}"),
            ("expected cache reuse (generate calls)", f"{self.cache_reuse:.0%}"),
            ("calls, expected (search)", f"{self.calls_expected:,.0f}"),
            ("calls, final test", f"{self.test_calls:,.0f}"),
            ("tokens, expected", f"{self.tokens_expected:,.0f}"),
            ("dollars, expected", d),
        ]


def _generate_identities(pipeline: Pipeline) -> tuple[list[tuple[Any, ...]], int]:
    """(identities of generate calls per query, calls of other nodes per query)."""
    idents: list[tuple[Any, ...]] = []
    for node_id in pipeline.order:
        comp = pipeline.graph.nodes[node_id]["component"]
        if comp.type != "generate":
            continue
        key = (node_id, comp.temperature, comp.top_p, comp.max_tokens, tuple(comp.stop or ()), comp.system_prompt,
               comp.prompt_template, comp.few_shot)
        # greedy samples are one call (the client sends identical greedy requests once), as in
        # the static cost model the shares below are taken against
        distinct = 1 if comp.temperature == 0 else comp.samples
        for model in comp.model_list():
            for i in range(distinct):
                idents.append((model, i, *key))
    return idents, 0


def estimate_search(
    space: Space, settings: Settings, *, n_trials: int, rungs: list[int], factor: int, qtokens: int, test_size: int, seed: int,
    final_queries: int = 0,
) -> SearchEstimate:
    """``final_queries``: pipeline-queries of the stages after the trials, whose estimated cost
    the trials leave untouched (archon.search.budget.final_holdback)."""
    count = space.count()
    exact = count.exact
    size = str(exact) if exact is not None else f"~{count.estimate:.3g}"
    rng = random.Random(seed)
    feasible: list[tuple[Pipeline, StaticCost]] = []
    infeasible = invalid = 0
    for _ in range(n_trials):
        point = space.sample(rng)
        if not isinstance(point, Pipeline):
            invalid += 1
            continue
        static = point.static_cost(query_tokens=qtokens)
        _, reason = per_query_violation(static, settings.budget.per_query)
        if reason is not None:
            infeasible += 1
            continue
        feasible.append((point, static))
    queries = 0.0
    prev = 0
    for k, r in enumerate(rungs):
        queries += (r - prev) / (factor**k) if len(rungs) > 1 else (r - prev)
        prev = r
    full_dev = rungs[-1] if rungs else 0
    n_feasible = max(1, len(feasible))
    calls_pq = sum(s.calls for _, s in feasible) / n_feasible if feasible else 0.0
    tokens_pq = sum(s.input_tokens + s.output_tokens for _, s in feasible) / n_feasible if feasible else 0.0
    priced = all(s.dollars is not None for _, s in feasible)
    dollars_pq = sum(float(s.dollars or 0) for _, s in feasible) / n_feasible if feasible and priced else None
    # cache reuse among the sampled trials' generate calls
    seen: set[tuple[Any, ...]] = set()
    total_gen = 0
    for point, _ in feasible:
        ids, _ = _generate_identities(point)
        total_gen += len(ids)
        seen.update(ids)
    reuse = 1 - len(seen) / total_gen if total_gen else 0.0
    gen_share = 0.0
    if feasible:
        gen_share = min(1.0, sum(len(_generate_identities(p)[0]) for p, _ in feasible) / max(1, sum(s.calls for _, s in feasible)))
    effective = 1 - reuse * gen_share
    scale = len(feasible) / n_trials if n_trials else 0.0
    trials_eval = n_trials * scale
    no_cache = trials_eval * full_dev * calls_pq
    expected = trials_eval * queries * calls_pq * effective
    n_models = max(1, len(settings.models) or 1)
    test_calls = test_size * (calls_pq + n_models)
    notes = []
    if not feasible:
        notes.append("no sampled point is feasible under the per-query budget: the search would evaluate nothing")
    limit = settings.budget.search
    per_query = Spend(float(dollars_pq or 0.0), int(round(tokens_pq)), int(round(calls_pq)))
    held = final_holdback(per_query, final_queries, Limits.from_spec(limit))
    dollars = (trials_eval * queries * dollars_pq * effective) if dollars_pq is not None else None
    over = [(what, want, cap, cap - kept) for what, want, cap, kept in (
        ("dollars", dollars, limit.dollars, held.dollars), ("calls", expected, limit.calls, held.calls),
        ("tokens", trials_eval * queries * tokens_pq * effective, limit.tokens, held.tokens))
        if cap is not None and want is not None and want > cap - kept]
    for what, want, cap, left in over:
        shown = (lambda x: f"${x:,.2f}") if what == "dollars" else (lambda x: f"{x:,.0f}")
        budget = f"the search budget ({shown(cap)})" if left == cap else \
            f"what the search budget leaves the trials ({shown(left)} of {shown(cap)}, the rest held back)"
        notes.append(f"the expected {what} ({shown(want)}) exceed {budget}: the budget will stop "
                     f"the search after about {left / want:.0%} of its trials; raise budget.search.{what} or lower search.trials")
    return SearchEstimate(
        space_size=size, space_exact=exact, trials=n_trials, sampled=n_trials, infeasible=infeasible, invalid=invalid,
        rungs=list(rungs), queries_per_trial=queries, calls_per_query=calls_pq, calls_no_fidelity_no_cache=no_cache,
        calls_expected=expected, cache_reuse=reuse, tokens_expected=trials_eval * queries * tokens_pq * effective,
        dollars_expected=(trials_eval * queries * dollars_pq * effective) if dollars_pq is not None else None,
        test_calls=test_calls, per_query=per_query, held_back=held, notes=notes,
    )
