from __future__ import annotations

import optuna
import pytest

from archon.errors import MissingDependencyError
from archon.search.samplers import SAMPLERS, make_sampler


def _objective(trial: optuna.Trial) -> float:
    a = trial.suggest_categorical("a", ["x", "y", "z"])
    b = trial.suggest_int("b", 1, 5)
    c = trial.suggest_float("c", 0.0, 1.0, step=0.25) if a == "z" else 0.5
    return {"x": 0, "y": 1, "z": 2}[a] + 0.1 * b - abs(c - 0.5)


def test_greedy_is_coordinate_ascent_from_the_first_values() -> None:
    study = optuna.create_study(direction="maximize", sampler=make_sampler("greedy", seed=0, n_objectives=1, parallel=1))
    study.optimize(_objective, n_trials=12)
    trials = study.trials
    assert trials[0].params == {"a": "x", "b": 1}
    for t in trials[1:]:
        best_before = max((u for u in trials if u.number < t.number), key=lambda u: (u.value, -u.number))
        changed = [k for k in t.params if k in best_before.params and t.params[k] != best_before.params[k]]
        assert len(changed) <= 1, (t.number, t.params, best_before.params)
    assert study.best_value == pytest.approx(2.5)  # z, b=5, c=0.5


@pytest.mark.parametrize("name", [n for n in SAMPLERS if n not in ("gp", "greedy")])
def test_every_sampler_builds_and_runs(name: str) -> None:
    n_obj = 2 if name == "nsga2" else 1
    sampler = make_sampler(name, seed=1, n_objectives=n_obj, parallel=2)
    study = optuna.create_study(directions=["maximize"] * n_obj, sampler=sampler)
    study.optimize(lambda t: (_objective(t),) * n_obj if n_obj > 1 else _objective(t), n_trials=6)
    assert len(study.trials) == 6


def test_gp_without_torch_says_what_to_install(monkeypatch) -> None:
    import archon.search.samplers as samplers

    monkeypatch.setattr(samplers, "_importable", lambda m: m != "torch")
    with pytest.raises(MissingDependencyError, match=r"archon\[gp\]"):
        make_sampler("gp", seed=0, n_objectives=1, parallel=1)


def test_the_spec_and_the_sampler_registry_name_the_same_samplers() -> None:
    from archon.search.samplers import SAMPLER_KINDS
    from archon.spec.schema import SAMPLER_NAMES

    assert tuple(SAMPLER_KINDS) == SAMPLER_NAMES == SAMPLERS


@pytest.mark.parametrize("name", [n for n in SAMPLERS if n not in ("gp", "grid")])  # grid: its own order
def test_trial_0_is_the_first_point_whatever_the_sampler(name: str) -> None:
    n_obj = 2 if name == "nsga2" else 1
    study = optuna.create_study(directions=["maximize"] * n_obj, sampler=make_sampler(name, seed=3, n_objectives=n_obj, parallel=1))
    study.optimize(lambda t: (_objective(t),) * n_obj if n_obj > 1 else _objective(t), n_trials=3)
    assert study.trials[0].params == {"a": "x", "b": 1}
