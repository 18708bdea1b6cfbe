"""Define-by-run with real Optuna studies: only choices on the chosen path are suggested."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from archon.space import InvalidSpacePoint

from space_util import space_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = """
space:
  - type: generate
    samples: {int: [1, 3], name: n}
    temperature: {float: {low: 0.2, high: 1.0, step: 0.2}, name: t, when: {n: [2, 3]}}
    top_p: {float: {low: 0.5, high: 1.0, log: true}, name: p}
  - repeat: {int: [0, 2]}
    name: depth
    layers:
      - type: fuse
        samples: {choice: [1, 2], name: w}
  - one_of:
      - [{type: vote}]
      - [{type: critique}, {type: fuse, use_critiques: true}]
    labels: [vote, critic_fuse]
    name: last
"""


def objective(space, seen):
    def run(trial):
        p = space.suggest(trial)
        seen.append((dict(trial.params), dict(p.assignment)))
        return float(p.static_cost().calls)

    return run


def _check_conditional(params):
    assert ("t" in params) == (params["n"] >= 2)
    assert ("w#1" in params) == (params["depth"] >= 1)
    assert ("w#2" in params) == (params["depth"] >= 2)
    assert set(params) <= {"n", "t", "p", "depth", "w#1", "w#2", "last"}


def test_in_memory_tpe_study_suggests_only_active_choices():
    s = space_of(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
    seen = []
    study.optimize(objective(s, seen), n_trials=40)
    assert len(seen) == 40
    for params, assignment in seen:
        assert params == assignment
        _check_conditional(params)
    assert any(p["depth"] == 2 for p, _ in seen) and any(p["n"] == 1 for p, _ in seen)
    t = study.trials[0]
    assert isinstance(t.distributions["n"], IntDistribution) and t.distributions["n"].step == 1
    assert isinstance(t.distributions["p"], FloatDistribution) and t.distributions["p"].log
    assert isinstance(t.distributions["last"], CategoricalDistribution)
    assert set(t.distributions["last"].choices) == {"vote", "critic_fuse"}
    best = s.resolve(study.best_trial.params)
    assert best.static_cost().calls == study.best_value


def test_sqlite_storage_round_trip(tmp_path):
    s = space_of(SPACE)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    study.optimize(objective(s, seen), n_trials=12)
    again = optuna.load_study(study_name="s", storage=url)
    assert len(again.trials) == 12
    for trial, (params, _) in zip(again.trials, seen):
        assert trial.params == params
        _check_conditional(trial.params)
        p = s.resolve(trial.params)
        assert p.static_cost().calls == trial.value
    # the distributions optuna stored are the space's own (discrete stays discrete)
    dists = s.to_distributions()
    for trial in again.trials:
        for name, dist in trial.distributions.items():
            assert dist == dists[name]


def test_invalid_point_raises_with_reasons_and_params_recorded():
    s = space_of(
        """
space:
  - {type: generate, samples: {int: [1, 4], name: n}}
  - {layer: [{type: critique}], optional: critic}
  - {type: rank, top_k: 1, use_critiques: true}
"""
    )
    study = optuna.create_study()
    study.enqueue_trial({"n": 2, "critic": False})  # a point the rules reject
    trial = study.ask()
    with pytest.raises(InvalidSpacePoint) as err:
        s.suggest(trial)
    assert trial.params == {"n": 2, "critic": False}
    assert err.value.point.reasons[0].startswith("critic-before-use")
    assert err.value.diagnostics[0].line == 5  # the rank's use_critiques in the space file
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def test_when_on_a_float_grid_value_survives_optuna_rounding():
    s = space_of(
        """
space:
  - type: generate
    temperature: {float: {low: 0.1, high: 0.7, step: 0.1}, name: t}
    top_p: {choice: [0.5, 0.9], name: p, when: {t: [0.3, 0.7]}}
  - {type: vote}
"""
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    hits = 0
    for _ in range(40):
        trial = study.ask()
        p = s.suggest(trial)
        near = any(abs(trial.params["t"] - v) < 1e-9 for v in (0.3, 0.7))
        assert ("p" in trial.params) == near
        hits += near
        study.tell(trial, p.component("generate1").temperature)
    assert hits > 0


def test_a_point_over_the_per_query_budget_is_its_own_error():
    from archon.errors import BudgetError, PerQueryBudgetError
    from archon.space import PointOverBudget

    s = space_of(
        """
budget: {per_query: {calls: 3}}
space:
  - {type: generate, samples: {int: [1, 5], name: n}, temperature: 0.7}
  - {type: vote}
"""
    )
    study = optuna.create_study()
    study.enqueue_trial({"n": 5})
    trial = study.ask()
    with pytest.raises(PointOverBudget) as err:
        s.suggest(trial)
    assert isinstance(err.value, PerQueryBudgetError) and isinstance(err.value, BudgetError)
    assert isinstance(err.value, InvalidSpacePoint)
    assert err.value.point.reasons[0].startswith("budget-calls")
    assert err.value.diagnostics[0].line == 2  # budget.per_query.calls in the space file
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    study.enqueue_trial({"n": 2})
    assert s.suggest(study.ask()).static_cost().calls == 2
