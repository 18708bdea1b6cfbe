"""Choosing what a search emits: its top candidates and the baseline, raced on held-out records.

Why: trials are chosen by dev, so the best dev score is biased up (the winner's curse). With a
few dozen dev queries a dozen architectures sit within one query of each other, and taking the
raw maximum optimises noise: a winner that ties — or loses to — one greedy call on new data.

What: the ``k`` best complete trials by dev (the Pareto front with several objectives) and the
one-greedy-call baseline are evaluated on the *selection* split, which no trial saw, in stages
(a third, two thirds, all of it):

1. **Racing.** After each stage but the last, a contender that the current leader beats on the
   shared records (one-sided paired test, p < ``alpha``) is dropped: more queries go only to
   contenders still in doubt. The cache makes a query the leader already answered free.
2. **Against the baseline.** On all selection records, each remaining contender is tested
   against the baseline: one-sided, paired (an exact sign test on the records where the two
   disagree for 0/1 scores, a sign-flip permutation test for partial credit), with a *weighted*
   Holm correction over all ``k`` contenders (dropped ones count, with p = 1). The weights are
   fixed by dev rank before any selection record is seen: the best by dev carries half of
   ``alpha`` (it is the likeliest true winner), the others share the rest. Against plain Holm
   (``alpha / k`` for the first step) this finds a real +0.15 winner about 1.5x as often on 60
   selection records, at the same family-wise error (benchmarks/bench_selection_power.py).
3. **Emit.** Among the contenders that beat the baseline significantly, the best one and every
   one statistically tied with it (two-sided paired p >= ``alpha``) are equivalent on the
   evidence; the cheapest of those by real cost per query is emitted. If none beats the
   baseline, the baseline is emitted and the summary says so in plain words.

Dropping contenders only removes chances to claim a win, and the claim itself is tested once,
on the full split, with the correction for every contender that entered: the emitted pipeline
beats the baseline at family-wise level ``alpha`` on records the search never saw.

The logic (:func:`race`) takes an ``evaluate(contender, indices)`` callable, so it is tested on
scripted outcomes; :func:`select_winner` wires it to the search's dispatcher (a
:class:`~archon.search.scoring.SplitScorer`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from archon.search.scoring import SplitScorer
from archon.search.stats import one_sided_paired, paired_test, preference

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

    from archon.benchmarks import Splits

__all__ = ["Contender", "Decision", "first_objective", "min_detectable_difference", "power_note", "race", "select_winner", "TOP_K",
           "rank_weights", "weighted_holm"]

#: Candidates by dev that go on to the selection split.
TOP_K = 5
ALPHA = 0.05
#: Share of ``ALPHA`` the best candidate by dev is tested at (weighted Holm's first weight).
TOP_WEIGHT = 0.5
#: No racing decision on fewer shared records than this.
MIN_RACE_RECORDS = 10


@dataclass
class Contender:
    label: str  # "trial-7" or "baseline"
    spec_data: dict[str, Any]
    trial: int | None = None  # None for the baseline
    dev_score: float | None = None
    cost: dict[str, Any] = field(default_factory=dict)  # real cost per query (calls, tokens, dollars)
    scores: dict[int, float] = field(default_factory=dict)  # selection index -> score
    dropped: str | None = None  # why racing dropped it
    p_vs_baseline: float | None = None  # one-sided, uncorrected
    p_adjusted: float | None = None  # Holm-adjusted
    model: str | None = None  # the baseline's model

    @property
    def name(self) -> str:
        """How messages name it: "trial 7" or "the baseline"."""
        return "the baseline" if self.trial is None else f"trial {self.trial}"

    def mean(self, on: Iterable[int] | None = None) -> float:
        keys = list(self.scores) if on is None else [i for i in on if i in self.scores]
        return sum(self.scores[i] for i in keys) / len(keys) if keys else 0.0

    def summary(self) -> dict[str, Any]:
        return {"label": self.label, "trial": self.trial, "model": self.model, "dev": self.dev_score, "cost_per_query": self.cost,
                "selection": self.mean(), "n": len(self.scores), "dropped": self.dropped,
                "p_vs_baseline": self.p_vs_baseline, "p_adjusted": self.p_adjusted}


@dataclass
class Decision:
    emitted: Contender
    baseline: Contender
    contenders: list[Contender]
    n: int  # selection records evaluated
    reason: str  # plain words, for the summary, report and exit message
    beats_baseline: bool
    tied_with_best: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"emitted": self.emitted.label, "emitted_trial": self.emitted.trial, "beats_baseline": self.beats_baseline,
                "reason": self.reason, "n": self.n, "tied_with_best": self.tied_with_best,
                "baseline": self.baseline.summary(), "contenders": [c.summary() for c in self.contenders]}


def _paired(a: Contender, b: Contender) -> tuple[list[float], list[float]]:
    common = [i for i in a.scores if i in b.scores]
    return [a.scores[i] for i in common], [b.scores[i] for i in common]


def _cost_key(c: Contender) -> tuple[float, float, float]:
    cost = c.cost or {}
    return (float(cost.get("calls", 0.0)), float(cost.get("tokens", 0.0)), float(cost.get("dollars") or 0.0))


def _size(c: Contender) -> int:
    """How much pipeline a contender is: its components plus its extra samples. Among tied
    winners of equal real cost, the smaller is emitted: 3 samples at temperature 0 and a vote
    cost one call, like one sample alone, and give the same answers."""
    def walk(node: Any) -> int:
        if isinstance(node, dict):
            own = 1 + max(0, int(node.get("samples") or 1) - 1) if "type" in node else 0
            return own + sum(walk(v) for v in node.values())
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0
    return walk(c.spec_data.get("pipeline"))


def stages(n: int) -> list[int]:
    """Cumulative selection sizes after which racing looks (the last is ``n``)."""
    cuts = sorted({max(MIN_RACE_RECORDS, math.ceil(n * f)) for f in (1 / 3, 2 / 3)} | {n})
    return [c for c in cuts if c <= n]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone), in the input order."""
    return weighted_holm(p_values, [1.0] * len(p_values))


def rank_weights(k: int, top: float = TOP_WEIGHT) -> list[float]:
    """Weights for ``k`` hypotheses in dev-rank order: ``top`` for the first, the rest equal."""
    if k <= 1:
        return [1.0] * k
    return [top] + [(1.0 - top) / (k - 1)] * (k - 1)


def weighted_holm(p_values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted Holm-adjusted p-values (Holm 1979), in the input order.

    Step-down over ``p / w`` in increasing order: at each step the hypothesis is compared with
    ``alpha * w / (sum of the weights still in play)``; the adjusted value is the running maximum
    of ``p * (weights in play) / w``. Equal weights give plain Holm. Family-wise error stays at
    ``alpha`` for any weights fixed before the data are seen.
    """
    m = len(p_values)
    if m == 0:
        return []
    total = float(sum(weights))
    order = sorted(range(m), key=lambda i: p_values[i] / weights[i] if weights[i] > 0 else math.inf)
    adjusted = [1.0] * m
    running, in_play = 0.0, total
    for i in order:
        value = min(1.0, p_values[i] * in_play / weights[i]) if weights[i] > 0 else 1.0
        running = max(running, value)
        adjusted[i] = running
        in_play -= weights[i]
    return adjusted


def race(contenders: list[Contender], baseline: Contender, evaluate: Callable[[Contender, list[int]], dict[int, float] | None],
         n: int, *, alpha: float = ALPHA, top_weight: float = TOP_WEIGHT,
         say: Callable[[str], None] = lambda _: None) -> Decision | None:
    """See the module docstring. ``evaluate`` returns index -> score for the given selection
    indices (records whose calls failed for good are simply missing) or None when the budget
    cannot cover it; then None is returned and nothing is claimed."""
    alive = list(contenders)
    done = 0
    for end in stages(n):
        indices = list(range(done, end))
        done = end
        for c in [baseline] + alive:
            got = evaluate(c, indices)
            if got is None:
                return None
            c.scores.update(got)
        if end >= n or not alive:
            continue
        pool = [baseline] + alive
        leader = max(pool, key=lambda c: (c.mean(), -_cost_key(c)[0]))
        for c in list(alive):
            if c is leader:
                continue
            a, b = _paired(leader, c)
            if len(a) < MIN_RACE_RECORDS:
                continue
            p = one_sided_paired(a, b)
            if p < alpha:
                c.dropped = f"behind {leader.name} on {len(a)} selection queries ({leader.mean(c.scores):.3f} vs {c.mean():.3f}, p={p:.3g})"
                alive.remove(c)
                say(f"selection: {c.name} dropped, {c.dropped}")
    for c in contenders:
        if c in alive:
            a, b = _paired(c, baseline)
            c.p_vs_baseline = one_sided_paired(a, b) if a else 1.0
        else:
            c.p_vs_baseline = 1.0
    # contenders arrive in dev-rank order: the weights are fixed before any selection record
    adjusted = weighted_holm([c.p_vs_baseline or 1.0 for c in contenders], rank_weights(len(contenders), top_weight))
    for c, p in zip(contenders, adjusted):
        c.p_adjusted = p
    winners = [c for c in contenders if c in alive and (c.p_adjusted or 1.0) < alpha and c.mean() > baseline.mean(c.scores)]
    n_sel = len(baseline.scores)
    if not winners:
        reason = (f"no architecture in this space beat one greedy call on {n_sel} selection queries "
                  f"(best {max((c.mean() for c in contenders), default=0.0):.3f} vs the baseline's {baseline.mean():.3f}); "
                  "the baseline is emitted")
        return Decision(baseline, baseline, contenders, n_sel, reason, False)
    best = max(winners, key=lambda c: (c.mean(), -_cost_key(c)[0]))
    tied = [best] + [c for c in winners if c is not best and paired_test(*_paired(best, c)).p_value >= alpha]
    emitted = min(tied, key=lambda c: (_cost_key(c), _size(c), -c.mean(), c.trial if c.trial is not None else -1))
    diff = emitted.mean(baseline.scores) - baseline.mean(emitted.scores)
    reason = (f"{emitted.name} beat one greedy call on {n_sel} selection queries "
              f"({emitted.mean():.3f} vs {baseline.mean():.3f}, {diff:+.3f}; adjusted p={emitted.p_adjusted:.3g})")
    if len(tied) > 1:
        reason += f"; the cheapest of {len(tied)} statistically tied winners ({', '.join(c.name for c in tied)})"
    return Decision(emitted, baseline, contenders, n_sel, reason, True, [c.label for c in tied])


# ----------------------------------------------------------------------------- power


def min_detectable_difference(n: int, p0: float, *, alpha: float = ALPHA, power: float = 0.8, k: int = TOP_K) -> float:
    """Smallest accuracy gain over a baseline at ``p0`` that the selection stage detects with
    ``power`` on ``n`` paired records for the best candidate by dev, one-sided at its first-step
    level ``alpha * rank_weights(k)[0]`` (weighted Holm).

    Normal approximation of the paired test, assuming the candidate's errors are independent of
    the baseline's (discordance p0(1-p1) + p1(1-p0)): a conservative figure, since a candidate
    built on the baseline usually errs on the same records, which makes smaller gains visible.
    """
    if n <= 0:
        return 1.0
    z = NormalDist().inv_cdf(1 - alpha * rank_weights(max(1, k))[0]) + NormalDist().inv_cdf(power)
    lo, hi = 0.0, 1.0 - p0
    for _ in range(60):
        d = (lo + hi) / 2
        p1 = p0 + d
        discord = p0 * (1 - p1) + p1 * (1 - p0)
        se = math.sqrt(max(discord - d * d, 1e-12) / n)
        if d >= z * se:
            hi = d
        else:
            lo = d
    return hi


def power_note(n_selection: int, n_dev: int, baseline_accuracy: float | None, *, k: int = TOP_K) -> str:
    if n_selection <= 0:
        return ("selection split is empty: the winner is taken by dev score alone and is not checked on held-out "
                "data (set benchmark.selection)")
    p0 = 0.5 if baseline_accuracy is None else min(max(baseline_accuracy, 0.01), 0.99)
    mdd = min_detectable_difference(n_selection, p0, k=k)
    source = "assumed 0.5" if baseline_accuracy is None else f"{baseline_accuracy:.2f} on dev"
    return (f"power: with {n_selection} selection queries and the baseline at {source}, the search can reliably tell "
            f"apart a gain of about {mdd:+.2f} in accuracy over one greedy call by the best candidate by dev "
            f"(80% power, one-sided 5% family-wise over {k} candidates; smaller gains may be real but will not be claimed)")


# ----------------------------------------------------------------------------- wiring


def select_winner(study: Study, scorer: SplitScorer, *, objectives: list[str], splits: Splits, baseline: Contender,
                  say: Callable[[str], None], k: int = TOP_K) -> Decision | None:
    """Race the top ``k`` complete trials and ``baseline`` on the selection split through the
    search's dispatcher. None when there is no selection split or no complete trial."""
    from optuna.trial import TrialState  # optuna loads lazily (see archon.search)

    n = len(splits.selection)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and "pipeline" in t.user_attrs]
    if not n or not complete:
        return None
    if len(objectives) == 1:
        ranked = sorted(complete, key=lambda t: preference(first_objective(t), t.user_attrs.get("cost_per_query"), t.number), reverse=True)
    else:
        ranked = sorted((t for t in study.best_trials if "pipeline" in t.user_attrs), key=lambda t: (-first_objective(t), t.number))
    seen = {_key(baseline.spec_data["pipeline"])}
    contenders: list[Contender] = []
    for t in ranked:
        key = _key(t.user_attrs["pipeline"])
        if key in seen:
            continue  # the baseline itself, or a duplicate of a better trial
        seen.add(key)
        data = scorer.spec_data(t.user_attrs["pipeline"])
        contenders.append(Contender(f"trial-{t.number}", data, t.number, t.user_attrs.get("dev_score"),
                                    dict(t.user_attrs.get("cost_per_query") or {})))
        if len(contenders) >= k:
            break
    if not contenders:
        return Decision(baseline, baseline, [], 0, "the best trial by dev is the baseline itself (one greedy call); it is emitted", False)
    say(f"choosing the winner: the top {len(contenders)} by dev and the baseline on {n} selection queries no trial saw...")

    def evaluate(c: Contender, indices: list[int]) -> dict[int, float] | None:
        rows = scorer.rows(c.label, c.spec_data, "selection", indices)
        if rows is None:
            return None
        return {r["index"]: float(r["score"]) for r in rows if r.get("score") is not None}

    return race(contenders, baseline, evaluate, n, say=say)


def first_objective(t: FrozenTrial) -> float:
    """A complete trial's first objective (its dev accuracy)."""
    assert t.values is not None  # set for every complete trial
    return t.values[0]


def _key(pipeline_data: Any) -> str:
    return json.dumps(pipeline_data, sort_keys=True)
