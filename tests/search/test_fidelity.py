from __future__ import annotations

import optuna

from archon.search.fidelity import make_pruner, non_dominated_ranks, promote_multi_objective, rung_sizes


def test_rung_sizes() -> None:
    assert rung_sizes(50, min_queries=8, factor=3) == [8, 24, 50]
    assert rung_sizes(24, min_queries=8, factor=3) == [8, 24]
    assert rung_sizes(72, min_queries=8, factor=3) == [8, 24, 72]
    assert rung_sizes(6, min_queries=8, factor=3) == [6]
    assert rung_sizes(50, min_queries=8, factor=3, enabled=False) == [50]


def test_non_dominated_ranks() -> None:
    # maximise accuracy, minimise cost
    pts = [[0.9, 10], [0.8, 5], [0.7, 20], [0.9, 12]]
    assert non_dominated_ranks(pts, [1, -1]) == [0, 0, 2, 1]


def test_multi_objective_promotion() -> None:
    signs = [1, -1]
    assert promote_multi_objective([0.1, 100], [[0.9, 1]], factor=3, signs=signs)  # too few to compare
    others = [[0.9, 1], [0.8, 2], [0.7, 3], [0.6, 4], [0.5, 5]]
    assert not promote_multi_objective([0.1, 100], others, factor=3, signs=signs)
    assert promote_multi_objective([0.2, 0.5], others, factor=3, signs=signs)  # cheapest: on the front


def test_sha_pruner_keeps_the_top_third() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner(min_queries=8, factor=3))
    decisions = []
    for value in [0.5, 0.9, 0.1, 0.2, 0.3, 0.95]:
        t = study.ask()
        t.report(value, step=8)
        decisions.append(t.should_prune())
        study.tell(t, state=optuna.trial.TrialState.PRUNED)
    # the first is best so far (kept); 0.1 / 0.2 / 0.3 are not in the top third
    assert decisions[0] is False and decisions[2] is True and decisions[5] is False
