"""The samplers a search can use, built from ``search.sampler`` in the spec.

=========  ==========================================================================================
tpe        default. ``TPESampler(multivariate=True, group=True, constant_liar=True, seed=...)``:
           multivariate + group model the joint distribution of the parameters that occur together,
           which is what a conditional (define-by-run) space needs; constant_liar makes trials that
           are still running count as bad guesses, so parallel workers do not all ask for the same
           point. Works for one or several objectives.
random     ``RandomSampler(seed)``.
grid       ``BruteForceSampler(seed)``: every point of a finite space once (conditional spaces
           included). Use it for small spaces; ints are enumerated, floats must have a ``step``.
nsga2      ``NSGAIISampler(seed)``, for ``objectives: [accuracy, cost]``.
gp         ``GPSampler(seed)``: Gaussian-process Bayesian optimisation (the method Archon's paper
           uses). Needs torch and scipy: ``pip install 'archon[gp]'``.
greedy     :class:`GreedySampler`, the greedy baseline; see its docstring.
=========  ==========================================================================================

A sampler is one :class:`SamplerKind` entry in :data:`SAMPLER_KINDS`, keyed by the names the spec
accepts (``archon.spec.schema.SamplerName``). :func:`make_sampler` builds it and, unless the
sampler starts there itself, wraps it so that trial 0 is the space's first point.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from archon.errors import InputError, MissingDependencyError
from archon.spec.schema import SAMPLER_NAMES

__all__ = ["FirstPointSampler", "GreedySampler", "SAMPLERS", "SAMPLER_KINDS", "SamplerKind", "SamplerOptions", "make_sampler"]

#: Every ``search.sampler`` value, in the spec's order (archon.spec.schema.SamplerName).
SAMPLERS = SAMPLER_NAMES


@dataclass(frozen=True)
class SamplerOptions:
    seed: int
    n_objectives: int
    parallel: int  # trials in flight at once


@dataclass(frozen=True)
class SamplerKind:
    """One ``search.sampler`` value: how to build it, and whether :func:`make_sampler` makes its
    trial 0 the space's first point (False when the sampler does that itself, or enumerates)."""

    build: Callable[[SamplerOptions], optuna.samplers.BaseSampler]
    first_point: bool = True


def _tpe(o: SamplerOptions) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=o.parallel > 1, seed=o.seed)


def _gp(o: SamplerOptions) -> optuna.samplers.BaseSampler:
    missing = [m for m in ("torch", "scipy") if not _importable(m)]
    if missing:
        raise MissingDependencyError(
            f"sampler 'gp' needs {' and '.join(missing)} (install them with: pip install 'archon[gp]', "
            "or choose sampler: tpe)"
        )
    return optuna.samplers.GPSampler(seed=o.seed)


SAMPLER_KINDS: dict[str, SamplerKind] = {
    "tpe": SamplerKind(_tpe),
    "random": SamplerKind(lambda o: optuna.samplers.RandomSampler(seed=o.seed)),
    # every point once, in its own order: a forced first point would be evaluated twice
    "grid": SamplerKind(lambda o: optuna.samplers.BruteForceSampler(seed=o.seed), first_point=False),
    "nsga2": SamplerKind(lambda o: optuna.samplers.NSGAIISampler(seed=o.seed)),
    "gp": SamplerKind(_gp),
    # its climb starts at the first point by construction
    "greedy": SamplerKind(lambda o: GreedySampler(seed=o.seed), first_point=False),
}


def make_sampler(name: str, *, seed: int, n_objectives: int, parallel: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for ``name`` (one of :data:`SAMPLERS`), whose trial 0 takes every
    choice at its first value (see :class:`FirstPointSampler`)."""
    kind = SAMPLER_KINDS.get(name)
    if kind is None:
        raise InputError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLERS)}")
    with warnings.catch_warnings():
        # TPE's `group` and BruteForceSampler are marked experimental in Optuna 5; they are
        # what conditional spaces and small finite spaces need, and we pin Optuna exactly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = kind.build(SamplerOptions(seed=seed, n_objectives=n_objectives, parallel=parallel))
    return FirstPointSampler(sampler) if kind.first_point else sampler


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class FirstPointSampler(optuna.samplers.BaseSampler):
    """``base``, except that the study's trial 0 takes every choice at its first value.

    Spaces list their simplest setting first (the quickstart: the single-call greedy baseline),
    so the search always evaluates it and the winner is never worse than it on dev.
    """

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self.base = base

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if trial.number == 0:
            return {}
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        if trial.number == 0:
            return _first(param_distribution)
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def _grid(dist: BaseDistribution) -> list[Any]:
    """The values the greedy search tries for one parameter, in order."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        values = list(range(dist.low, dist.high + 1, dist.step))
        if len(values) <= 6:
            return values
        if dist.log:
            pts = [math.exp(math.log(dist.low) + i * (math.log(dist.high) - math.log(dist.low)) / 4) for i in range(5)]
        else:
            pts = [dist.low + i * (dist.high - dist.low) / 4 for i in range(5)]
        snapped = []
        for p in pts:
            v = dist.low + round((p - dist.low) / dist.step) * dist.step
            v = min(max(v, dist.low), dist.high)
            if v not in snapped:
                snapped.append(int(v))
        return snapped
    if isinstance(dist, FloatDistribution):
        if dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            if n <= 6:
                return [dist.low + i * dist.step for i in range(n)]
        if dist.log:
            return [math.exp(math.log(dist.low) + i * (math.log(dist.high) - math.log(dist.low)) / 4) for i in range(5)]
        return [dist.low + i * (dist.high - dist.low) / 4 for i in range(5)]
    raise TypeError(f"unsupported distribution {dist!r}")


def _first(dist: BaseDistribution) -> Any:
    return _grid(dist)[0]


class GreedySampler(optuna.samplers.BaseSampler):
    """Archon's greedy baseline, as a coordinate-wise hill climb over the space's choices.

    What it does, exactly:

    1. The first trial takes every choice at its *first* value (first option of a categorical,
       low end of a range). Spaces list their simplest setting first (quickstart: the
       single-call baseline), so the climb starts at the baseline.
    2. The *incumbent* is the best finished, feasible trial so far (highest first objective;
       ties go to the earlier trial).
    3. The next trial is the first untried *neighbour* of the incumbent, where neighbours are
       scanned coordinate by coordinate — parameters in the order they first appeared in the
       search, and for each one its values in order (all options of a categorical; for a range,
       every value when there are at most 6, else 5 evenly spaced ones). A neighbour changes
       exactly one parameter of the incumbent; parameters that a change newly switches on
       (conditional choices) take their first value.
    4. When the incumbent improves, the scan goes on around the new incumbent from the
       coordinate whose change produced it (its other values are then tried ones, so in effect
       from the next coordinate, cyclically): plain coordinate ascent. When every neighbour has been tried the climb is at a local optimum and the
       remaining trials are sampled at random (seeded), which is where plain greedy would stop.

    The state is derived from the study's trials every time, so it is resume-safe and several
    trials may run at once (with ``parallel > 1`` a neighbour may be proposed before the trials
    ahead of it finished; that only makes the scan less strictly sequential).
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._plans: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # --- BaseSampler interface (duck-typed; Optuna only calls these) -----------------------

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._random.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        with self._lock:
            self._plans.pop(trial.number, None)
        self._random.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        with self._lock:
            plan = self._plans.get(trial.number)
            if plan is None:
                plan = self._plan(study, trial)
                self._plans[trial.number] = plan
        if plan.get("__random__"):
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        if param_name in plan and param_distribution._contains(param_distribution.to_internal_repr(plan[param_name])):
            return plan[param_name]
        return _first(param_distribution)

    # --- the climb ------------------------------------------------------------------------

    def _plan(self, study: Study, trial: FrozenTrial) -> dict[str, Any]:
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        finished = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
        feasible = [t for t in finished if all(v <= 0 for v in t.constraints.values())]
        if not trials:
            return {}
        if not feasible:
            return {"__random__": True}
        incumbent = sorted(feasible, key=lambda t: (-t.values[0], t.number))[0]
        tried = [dict(t.params) for t in trials]
        # coordinates in order of first appearance, with their distributions
        coords: dict[str, BaseDistribution] = {}
        for t in sorted(trials, key=lambda t: t.number):
            for name, dist in t.distributions.items():
                coords.setdefault(name, dist)
        base = dict(incumbent.params)
        names = list(coords)
        # continue the cycle after the coordinate that produced the incumbent
        start_name = incumbent.system_attrs.get(_COORD_KEY)
        start = names.index(start_name) if start_name in names else 0
        for name in names[start:] + names[:start]:
            if name not in base:
                continue  # switched off under the incumbent: changing it changes nothing
            for value in _grid(coords[name]):
                if value == base[name]:
                    continue
                candidate = dict(base)
                candidate[name] = value
                if not any(_matches(p, candidate, name) for p in tried):
                    study._storage.set_trial_system_attr(trial._trial_id, _COORD_KEY, name)
                    return candidate
        return {"__random__": True}


def _matches(params: dict[str, Any], candidate: dict[str, Any], changed: str) -> bool:
    """A tried trial already covers ``candidate``: it has the changed value, and agrees on
    every other parameter both of them have."""
    if params.get(changed, _MISSING) != candidate[changed]:
        return False
    return all(params[k] == v for k, v in candidate.items() if k in params)


_MISSING = object()
_COORD_KEY = "greedy:coordinate"
