"""Intervals and paired tests for comparing pipelines on the same records.

Wilson score intervals for accuracies (well-behaved at small n and near 0 or 1); McNemar's exact
test when every score is 0 or 1 (it looks only at the records where the two pipelines disagree);
a paired bootstrap of the mean difference otherwise (partial-credit scorers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from archon.util.stats import wilson  # re-exported: the one interval helper lives in archon.util

__all__ = ["PairedTest", "mcnemar_exact", "one_sided_paired", "paired_bootstrap", "paired_test", "wilson"]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` records only A got right, ``c`` only B."""
    from scipy.stats import binomtest  # scipy (heavy, no stubs) loads on first test

    return 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def one_sided_paired(a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> float:
    """p-value for "a scores higher than b" on paired records (same order).

    0/1 scores: the exact sign test on the records where the two disagree (one-sided McNemar).
    Partial credit: a sign-flip permutation test of the mean difference (exact for few
    records, 9,999 seeded resamples otherwise), so the p-value is the same on every run.
    """
    if len(a) != len(b):
        raise ValueError("paired scores must cover the same records")
    diffs = [x - y for x, y in zip(a, b)]
    if not any(diffs):
        return 1.0
    if all(x in (0.0, 1.0) for x in list(a) + list(b)):
        from scipy.stats import binomtest  # as above

        wins = sum(1 for d in diffs if d > 0)
        losses = sum(1 for d in diffs if d < 0)
        return float(binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue)
    import numpy as np
    from scipy.stats import permutation_test  # as above

    res = permutation_test((np.asarray(diffs),), np.mean, permutation_type="samples", alternative="greater",
                           n_resamples=9999, rng=np.random.default_rng(seed))
    return float(res.pvalue)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, rounds: int = 2000, seed: int = 0) -> float:
    """Two-sided bootstrap p-value for mean(a) - mean(b) == 0 over paired records."""
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    if n == 0:
        return 1.0
    observed = sum(diffs) / n
    rng = random.Random(seed)
    centred = [d - observed for d in diffs]
    extreme = 0
    for _ in range(rounds):
        m = sum(centred[rng.randrange(n)] for _ in range(n)) / n
        if abs(m) >= abs(observed) - 1e-12:
            extreme += 1
    return (extreme + 1) / (rounds + 1)


@dataclass(frozen=True)
class PairedTest:
    method: str
    p_value: float
    difference: float  # mean(a) - mean(b)
    a_only: int  # records only a got right (binary scores)
    b_only: int
    n: int

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def paired_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Compare two pipelines' per-record scores on the same records (same order)."""
    if len(a) != len(b):
        raise ValueError("paired scores must cover the same records")
    n = len(a)
    diff = (sum(a) - sum(b)) / n if n else 0.0
    binary = all(x in (0.0, 1.0) for x in list(a) + list(b))
    a_only = sum(1 for x, y in zip(a, b) if x > y)
    b_only = sum(1 for x, y in zip(a, b) if y > x)
    if binary:
        return PairedTest("McNemar exact", mcnemar_exact(a_only, b_only), diff, a_only, b_only, n)
    return PairedTest("paired bootstrap", paired_bootstrap(a, b), diff, a_only, b_only, n)


def preference(score: float, cost_per_query: dict | None, number: int) -> tuple[float, float, float, int]:
    """Sort key (higher is better) for choosing the best of single-objective trials: the dev
    score first; among equal scores the cheaper architecture (fewer calls, then fewer tokens per
    query, counting cached calls as paid); then the earlier trial. So a tie between one greedy
    call and three identical greedy samples goes to the single call."""
    cost = cost_per_query or {}
    return (score, -float(cost.get("calls", 0.0)), -float(cost.get("tokens", 0.0)), -number)
