"""The selection stage on scripted outcomes: what is emitted, and why (archon.search.selection)."""

from __future__ import annotations

import random

import pytest

from archon.search.selection import (Contender, holm, min_detectable_difference, power_note, race, rank_weights, stages,
                                     weighted_holm)

N = 120


def scripted(accuracies: dict[str, float], *, seed: int = 0, shared: float = 0.0, costs: dict[str, float] | None = None):
    """Contenders whose per-record 0/1 scores are drawn once per record (so re-evaluation is
    consistent); ``shared`` is the chance a record's outcome is copied from the baseline."""
    rng = random.Random(seed)
    base_acc = accuracies["baseline"]
    base = [1.0 if rng.random() < base_acc else 0.0 for _ in range(N)]
    outcomes = {"baseline": base}
    for label, acc in accuracies.items():
        if label == "baseline":
            continue
        outcomes[label] = [base[i] if rng.random() < shared else (1.0 if rng.random() < acc else 0.0) for i in range(N)]
    costs = costs or {}
    made = {label: Contender(label, {"pipeline": label}, None if label == "baseline" else int(label.split("-")[1]),
                             cost={"calls": costs.get(label, 1.0)}) for label in outcomes}
    asked: list[tuple[str, int]] = []

    def evaluate(c: Contender, indices: list[int]):
        asked.extend((c.label, i) for i in indices)
        return {i: outcomes[c.label][i] for i in indices}

    contenders = [c for label, c in made.items() if label != "baseline"]
    return contenders, made["baseline"], evaluate, asked


def test_a_true_winner_is_found() -> None:
    contenders, base, evaluate, _ = scripted({"baseline": 0.4, "trial-1": 0.42, "trial-2": 0.75, "trial-3": 0.45})
    decision = race(contenders, base, evaluate, N)
    assert decision is not None and decision.beats_baseline
    assert decision.emitted.label == "trial-2"
    assert "beat one greedy call on 120 selection queries" in decision.reason


def test_pure_noise_yields_the_baseline() -> None:
    # five candidates exactly as good as the baseline: a win may be claimed at most at the
    # family-wise level (5%), whatever the draw; these 200 seeded draws give 3%
    claimed = 0
    for seed in range(200):
        contenders, base, evaluate, _ = scripted({"baseline": 0.5, **{f"trial-{i}": 0.5 for i in range(1, 6)}}, seed=seed)
        decision = race(contenders, base, evaluate, N)
        assert decision is not None
        if decision.beats_baseline:
            claimed += 1
        else:
            assert decision.emitted is base
            assert decision.reason.startswith("no architecture in this space beat one greedy call on 120 selection queries")
    assert claimed / 200 <= 0.05


def test_ties_yield_the_cheapest() -> None:
    # trial-1 and trial-2 are equally good (same outcomes); trial-2 costs less
    contenders, base, evaluate, _ = scripted({"baseline": 0.3, "trial-1": 0.8, "trial-2": 0.8}, costs={"trial-1": 5.0, "trial-2": 1.0})
    outcomes_of_1 = {i: evaluate(contenders[0], [i])[i] for i in range(N)}

    def same(c, indices):
        if c.label == "trial-2":
            return {i: outcomes_of_1[i] for i in indices}
        return evaluate(c, indices)

    decision = race(contenders, base, same, N)
    assert decision is not None and decision.beats_baseline
    assert decision.emitted.label == "trial-2" and set(decision.tied_with_best) == {"trial-1", "trial-2"}


def test_ties_of_equal_cost_yield_the_smaller_pipeline() -> None:
    # 3 samples at temperature 0 and a vote give the same answers as one sample, at the same real
    # cost (one call): the lower-numbered trial is the bigger pipeline, and the smaller is emitted
    contenders, base, evaluate, _ = scripted({"baseline": 0.3, "trial-1": 0.8, "trial-2": 0.8})
    contenders[0].spec_data = {"pipeline": [{"type": "generate", "samples": 3, "temperature": 0.0}, {"type": "vote"}]}
    contenders[1].spec_data = {"pipeline": [{"type": "generate", "samples": 1, "temperature": 0.0}]}
    outcomes_of_1 = {i: evaluate(contenders[0], [i])[i] for i in range(N)}

    def same(c, indices):
        return {i: outcomes_of_1[i] for i in indices} if c.label == "trial-2" else evaluate(c, indices)

    decision = race(contenders, base, same, N)
    assert decision is not None and decision.beats_baseline
    assert decision.emitted.label == "trial-2"


def test_racing_drops_a_clear_loser_early_and_spends_less_on_it() -> None:
    contenders, base, evaluate, asked = scripted({"baseline": 0.5, "trial-1": 0.9, "trial-2": 0.05})
    decision = race(contenders, base, evaluate, N)
    loser = next(c for c in decision.contenders if c.label == "trial-2")
    assert loser.dropped and "behind" in loser.dropped
    assert sum(1 for label, _ in asked if label == "trial-2") < N
    assert sum(1 for label, _ in asked if label == "trial-1") == N


def test_a_budget_that_cannot_cover_selection_claims_nothing() -> None:
    contenders, base, _, _ = scripted({"baseline": 0.5, "trial-1": 0.9})
    assert race(contenders, base, lambda c, idx: None, N) is None


def test_holm_is_monotone_and_bounded() -> None:
    adjusted = holm([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([]) == []


def test_weighted_holm_gives_the_best_by_dev_the_larger_share() -> None:
    assert weighted_holm([0.01, 0.04, 0.03, 0.5], [1, 1, 1, 1]) == pytest.approx(holm([0.01, 0.04, 0.03, 0.5]))
    weights = rank_weights(5)
    assert weights[0] == 0.5 and sum(weights) == pytest.approx(1.0)
    # p = 0.02 for the best by dev: plain Holm over five needs 0.01, the weighted step 0.025
    adjusted = weighted_holm([0.02, 0.6, 0.7, 0.8, 0.9], weights)
    assert adjusted[0] == pytest.approx(0.04) and adjusted[0] < 0.05 < holm([0.02, 0.6, 0.7, 0.8, 0.9])[0]
    # a later candidate must clear its smaller share
    assert weighted_holm([0.9, 0.02, 0.7, 0.8, 0.9], weights)[1] > 0.05


def test_stages_end_at_the_split_size() -> None:
    assert stages(60) == [20, 40, 60]
    assert stages(12)[-1] == 12 and all(s <= 12 for s in stages(12))


def test_power_shrinks_with_more_records_and_the_note_says_so() -> None:
    assert min_detectable_difference(200, 0.4) < min_detectable_difference(60, 0.4) < min_detectable_difference(20, 0.4)
    note = power_note(60, 60, 0.41)
    assert "60 selection queries" in note and "0.41 on dev" in note
    assert "not checked on held-out data" in power_note(0, 60, 0.4)
