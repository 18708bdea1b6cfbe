"""Choices: one named decision in a space, its domain, and how Optuna sees it.

A choice's *parameter value* is what an assignment (and an Optuna trial's ``params``) holds for
it: the number for int/float ranges, the value for a categorical of scalars, a label (or index)
for a categorical of lists/mappings and for ``one_of``, a bool for ``optional``, the size for
``prefix`` and the count for ``repeat``. Discrete domains stay discrete in Optuna: ints are
suggested with ``suggest_int`` and their exact step, never relaxed to floats.

Optuna is imported only where a distribution is built (a search): ``archon validate`` and
``archon space`` never need it, and a test checks they do not import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from archon.errors import UsageError

__all__ = [
    "Categorical",
    "Choice",
    "Domain",
    "FloatRange",
    "IntRange",
    "is_scalar",
    "same_param",
]

KINDS = ("int", "float", "categorical", "prefix", "optional", "one_of", "repeat")


def same_param(a: Any, b: Any) -> bool:
    """Equality that keeps ``true`` and ``1`` apart (YAML and Optuna both distinguish them)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, float) or isinstance(b, float):
        # suggest_float on a step grid may return 0.30000000000000004 for 0.3
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def is_scalar(value: Any) -> bool:
    """Values Optuna stores as categorical choices as they are."""
    return value is None or isinstance(value, (bool, int, float, str))


@dataclass(frozen=True)
class IntRange:
    """Integers ``low, low+step, ..., high`` (inclusive). ``log`` only changes how they are drawn."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    @property
    def finite(self) -> bool:
        return True

    def size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def value_at(self, i: int) -> int:
        """The ``i``-th value, without listing them all (a range may hold 10^9 of them)."""
        return self.low + i * self.step

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def sample(self, rng: Any) -> int:
        if self.log:
            # draw uniformly in log space, then snap to the grid (as Optuna's random sampler does)
            x = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return min(self.high, max(self.low, int(round(x))))
        return self.low + self.step * rng.randrange(self.size())

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def distribution(self) -> Any:
        from optuna.distributions import IntDistribution  # lazy: see the module docstring

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        extra = (f" step {self.step}" if self.step != 1 else "") + (" log" if self.log else "")
        return f"int [{self.low}, {self.high}]{extra}"


@dataclass(frozen=True)
class FloatRange:
    """Reals in ``[low, high]``; with ``step`` the grid ``low, low+step, ..., high`` (finite)."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    @property
    def finite(self) -> bool:
        return self.step is not None or self.low == self.high

    def size(self) -> int | None:
        if self.low == self.high:
            return 1
        if self.step is None:
            return None
        return int(round((self.high - self.low) / self.step)) + 1

    def values(self) -> list[float]:
        n = self.size()
        if n is None:
            raise UsageError("a float range without step has infinitely many values")
        return [self.value_at(i) for i in range(n)]

    def value_at(self, i: int) -> float:
        return round(self.low + i * (self.step or 0.0), 12)

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not (self.low - 1e-12 <= value <= self.high + 1e-12):
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def sample(self, rng: Any) -> float:
        n = self.size()
        if n is not None:
            return self.value_at(rng.randrange(n))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution  # lazy: see the module docstring

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        extra = (f" step {self.step:g}" if self.step is not None else "") + (" log" if self.log else "")
        return f"float [{self.low:g}, {self.high:g}]{extra}"


@dataclass(frozen=True)
class Categorical:
    """A finite list of options. ``params`` are what Optuna suggests: the options themselves when
    they are all scalars, else their labels (given, or named after their content by
    :func:`auto_labels`), so every leaderboard and plot shows ``aggregate=vote``, not ``1``."""

    options: tuple[Any, ...]
    labels: tuple[str, ...] | None = None

    @property
    def finite(self) -> bool:
        return True

    @property
    def by_value(self) -> bool:
        return self.labels is None and all(is_scalar(v) for v in self.options)

    def params(self) -> list[Any]:
        if self.by_value:
            return list(self.options)
        if self.labels is not None:
            return list(self.labels)
        return auto_labels(self.options)

    def size(self) -> int:
        return len(self.options)

    def values(self) -> list[Any]:
        return self.params()

    def value_at(self, i: int) -> Any:
        return self.params()[i]

    def index_of(self, param: Any) -> int | None:
        for i, p in enumerate(self.params()):
            if same_param(p, param):
                return i
        return None

    def contains(self, param: Any) -> bool:
        return self.index_of(param) is not None

    def sample(self, rng: Any) -> Any:
        return self.params()[rng.randrange(len(self.options))]

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, self.params())

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution  # lazy: see the module docstring

        return CategoricalDistribution(self.params())

    def describe(self) -> str:
        shown = [str(p) for p in self.params()]
        return "{" + ", ".join(shown) + "}"


def _option_name(option: Any) -> str | None:
    if isinstance(option, dict):
        kind = option.get("type")
        return str(kind) if isinstance(kind, str) else None
    if isinstance(option, (list, tuple)):
        if not option:
            return "none"
        parts = []
        for item in option:
            if isinstance(item, (list, tuple)):  # a layer of several components
                names = [_option_name(c) for c in item]
                if None in names:
                    return None
                parts.append("|".join(n for n in names if n))
            else:
                name = _option_name(item)
                if name is None:
                    return None
                parts.append(name)
        return "+".join(parts)
    return None


def auto_labels(options: Sequence[Any]) -> list[Any]:
    """Names for non-scalar options from what they hold: ``none`` for an empty branch, the
    component types otherwise (``vote``, ``critique+fuse``), ``rank-2`` for a repeated name;
    indices 0..n-1 when some option has no such name."""
    names = [_option_name(o) for o in options]
    if any(n is None for n in names):
        return list(range(len(options)))
    out: list[Any] = []
    seen: dict[str, int] = {}
    for n in names:
        assert n is not None  # checked above: every option has a name
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


Domain = IntRange | FloatRange | Categorical


@dataclass(frozen=True)
class Choice:
    """One decision. ``name`` is its Optuna parameter name (``#i`` suffixes mark repeat copies).

    ``condition`` lists, for each other choice this one depends on, the parameter values under
    which it exists (from ``when:`` and from the structure around it: an enclosing optional,
    one_of alternative, categorical option or repeat copy). ``path`` is where it was written.
    """

    name: str
    kind: str
    domain: Domain
    condition: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    path: tuple[Any, ...] = ()

    def describe(self) -> str:
        kind = "" if self.kind in ("int", "float", "categorical") else f"{self.kind} "
        return f"{self.name}: {kind}{self.domain.describe()}"
