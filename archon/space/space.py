"""A search space: a pipeline template with choices, and everything a search does with it.

``resolve`` turns an assignment into a validated :class:`~archon.graph.Pipeline`; ``sample``
draws a random point; ``suggest`` asks an Optuna trial define-by-run (only choices that exist on
the path taken are suggested); ``enumerate`` and ``count`` walk the conditional tree of choices,
where validity includes the schema and every composition rule.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from archon.errors import Diagnostic, PerQueryBudgetError, SpecError, UsageError
from archon.graph import CompositionError, Pipeline, compile_pipeline
from archon.graph.rules import RULES
from archon.space.choices import Choice
from archon.space.count import VALID, count_by_classes
from archon.space.template import ChoiceT, Template, parse_template
from archon.space.walk import Resolved, walk
from archon.spec.document import SpecDocument
from archon.spec.schema import Spec
from archon.spec.validate import schema_diagnostics
from archon.util import did_you_mean

__all__ = ["CountResult", "InvalidPoint", "InvalidSpacePoint", "PointOverBudget", "Space"]

#: Exhaustive counting is attempted up to this many points (each is validated and compiled).
DEFAULT_MAX_POINTS = 200_000


@dataclass
class InvalidPoint:
    """A point of the space that does not give a valid pipeline, and why (rule ids or schema)."""

    assignment: dict[str, Any]
    reasons: list[str]
    data: dict[str, Any]


class InvalidSpacePoint(SpecError):
    """Raised by :meth:`Space.resolve`/:meth:`Space.suggest` for an invalid point; ``point`` says why."""

    def __init__(self, diagnostics: list[Diagnostic], point: InvalidPoint) -> None:
        super().__init__(diagnostics)
        self.point = point


class PointOverBudget(InvalidSpacePoint, PerQueryBudgetError):
    """An invalid point that breaks the per-query budget rule (``budget-calls``): a search
    records it as infeasible under that constraint rather than as an invalid architecture."""


@dataclass
class CountResult:
    """How big a space is and how much of it is valid.

    ``exact``: the number of valid points when every point was checked, else None.
    ``estimate``: estimated valid points (== exact when exact; ``inf`` for continuous spaces).
    ``total_points``: all points, valid or not (None for continuous spaces; an estimate when
    ``exact`` is None, see ``total_is_estimate``). ``checked``/``valid``: points validated and
    how many passed. ``invalid_reasons``: reason -> number of checked points failing it.
    """

    exact: int | None
    estimate: float
    total_points: float | None
    valid: int
    checked: int
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    total_is_estimate: bool = False
    method: str = "enumeration"

    @property
    def valid_share(self) -> float:
        return self.valid / self.checked if self.checked else 0.0


class _Branch(Exception):
    def __init__(self, values: list[Any]) -> None:
        self.values = values


class _Infinite(Exception):
    pass


class _Missing(Exception):
    def __init__(self, choice: ChoiceT, name: str, value: Any = None, present: bool = False) -> None:
        self.choice, self.name, self.value, self.present = choice, name, value, present


_DIGITS = re.compile(r"\d+")


def _schema_reason(error: ErrorDetails) -> str:
    loc = ".".join("*" if isinstance(p, int) else str(p) for p in error.get("loc", ()))
    msg = _DIGITS.sub("N", str(error.get("msg", "")))
    return f"schema: {loc}: {msg}"


def _exact(tally: Counter[tuple[str, ...]]) -> CountResult:
    """A CountResult from every point's reasons, tallied in the order points are met (so reasons
    with equal counts come out in the same order as from checking point by point)."""
    valid = tally[VALID]
    checked = sum(tally.values())
    reasons: dict[str, int] = {}
    for point_reasons, n in tally.items():
        for r in point_reasons:
            reasons[r] = reasons.get(r, 0) + n
    return CountResult(valid, float(valid), checked, valid, checked, dict(sorted(reasons.items(), key=lambda kv: -kv[1])))


def _rule_reasons(exc: CompositionError) -> list[str]:
    return sorted({f"{r}: {RULES.get(r, r)}" for r in exc.rules})


def _suffix(copies: tuple[int, ...]) -> str:
    return "".join(f"#{c}" for c in copies)


class Space:
    """A space parsed from a document; see the module docstring."""

    def __init__(self, template: Template, doc: Any) -> None:
        self.template = template
        self.doc = doc
        self.choices: list[Choice] = self._expand()
        self._names = {c.name for c in self.choices}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_document(cls, doc: Any) -> Space:
        """Parse a :class:`~archon.spec.SpecDocument` (or a plain dict) and check its markers."""
        return cls(parse_template(doc), doc)

    def _expand(self) -> list[Choice]:
        out = []
        for ct in self.template.choices:
            ranges = [range(1, rep.max_count + 1) for rep in ct.chain]
            for copies in itertools.product(*ranges):
                cond: dict[str, tuple[Any, ...]] = {}
                for k, rep in enumerate(ct.chain):
                    if rep.choice is not None:
                        cond[rep.choice.name + _suffix(copies[:k])] = tuple(v for v in rep.choice.domain.values() if v >= copies[k])
                for ref, allowed in ct.conds:
                    cond[ref.name + _suffix(copies[: len(ref.chain)])] = allowed
                out.append(Choice(ct.name + _suffix(copies), ct.kind, ct.domain, cond, ct.path))
        return out

    @property
    def file(self) -> str:
        return self.template.file

    @property
    def is_finite(self) -> bool:
        return all(c.domain.finite for c in self.template.choices)

    def describe(self) -> str:
        """One line per choice: name, kind, domain and the conditions it exists under."""
        lines = []
        for c in self.choices:
            cond = ", ".join(f"{k} in {list(v)}" for k, v in c.condition.items())
            lines.append(f"{c.describe()}" + (f"  (when {cond})" if cond else ""))
        return "\n".join(lines)

    # ------------------------------------------------------------------ validity
    def check(self, resolved: Resolved) -> Pipeline | InvalidPoint:
        """Validate one resolved point (schema, then graph rules) without positions: fast."""
        spec = self._typed(resolved)
        if isinstance(spec, InvalidPoint):
            return spec
        try:
            p = compile_pipeline(spec)
        except CompositionError as exc:
            return InvalidPoint(resolved.assignment, _rule_reasons(exc), resolved.data)
        p.assignment = resolved.assignment
        return p

    def _typed(self, resolved: Resolved) -> Any:
        """The point's typed :class:`~archon.spec.schema.Spec`, or an InvalidPoint with its schema errors."""
        data = dict(resolved.data)
        data["pipeline"] = {"layers": data.get("pipeline", [])}
        try:
            return Spec.model_validate(data, strict=True)
        except ValidationError as exc:
            reasons = sorted({_schema_reason(e) for e in exc.errors(include_url=False)})
            return InvalidPoint(resolved.assignment, reasons, resolved.data)

    def _reasons(self, resolved: Resolved) -> tuple[tuple[str, ...], Any]:
        """The reasons of one point (``VALID`` when it is valid), and its typed spec (None after
        a schema error): :meth:`check` as the exact count needs it."""
        spec = self._typed(resolved)
        if isinstance(spec, InvalidPoint):
            return tuple(spec.reasons), None
        try:
            compile_pipeline(spec)
        except CompositionError as exc:
            return tuple(_rule_reasons(exc)), spec
        return VALID, spec

    def _positioned_error(self, resolved: Resolved, point: InvalidPoint) -> InvalidSpacePoint:
        """Re-validate with positions mapped back to the space file (only for a reported error)."""
        sources = resolved.sources
        locate = getattr(self.doc, "locate", None)
        key_positions = getattr(self.doc, "key_positions", {})
        positions: dict[tuple[Any, ...], tuple[int, int]] = {}
        keys: dict[tuple[Any, ...], tuple[int, int]] = {}

        def source(path: tuple[Any, ...]) -> tuple[Any, ...]:
            for n in range(len(path), -1, -1):
                if path[:n] in sources:
                    return sources[path[:n]] + path[n:]
            return path

        def visit(value: Any, path: tuple[Any, ...]) -> None:
            src = source(path)
            if locate is not None:
                positions[path] = locate(src)
            if src in key_positions:
                keys[path] = key_positions[src]
            if isinstance(value, dict):
                for k, v in value.items():
                    visit(v, path + (k,))
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    visit(v, path + (i,))

        visit(resolved.data, ())
        doc = SpecDocument(data=resolved.data, positions=positions, file=self.file, is_space=False, key_positions=keys)
        # what validate_pipeline does, keeping the graph rules that failed to tell the error's kind
        spec, problems = schema_diagnostics(doc)
        if spec is None:
            return InvalidSpacePoint(problems, point)
        try:
            compile_pipeline(spec, locate=doc.locate, file=doc.file)
        except CompositionError as exc:
            kind = PointOverBudget if "budget-calls" in exc.rules else InvalidSpacePoint
            return kind(exc.diagnostics, point)
        return InvalidSpacePoint([Diagnostic(self.file, 0, 0, "invalid point: " + "; ".join(point.reasons))], point)

    # ------------------------------------------------------------------ resolving
    def resolve(self, assignment: dict[str, Any]) -> Pipeline:
        """The pipeline for ``assignment`` (choice name -> parameter value); raise SpecError.

        Values for choices that do not exist on the chosen path are ignored; a missing value for
        one that does, a value outside its domain, or an unknown name is an error.
        """
        unknown = [n for n in assignment if n not in self._names]
        problems = []
        for name in unknown:
            guess = did_you_mean(name, sorted(self._names))
            problems.append(Diagnostic(self.file, 0, 0, f"unknown choice '{name}'", f"did you mean '{guess}'?" if guess else None))
        if problems:
            raise SpecError(problems)

        def decide(choice: ChoiceT, name: str) -> Any:
            if name not in assignment:
                raise _Missing(choice, name)
            value = assignment[name]
            if not choice.domain.contains(value):
                raise _Missing(choice, name, value, present=True)
            return value

        try:
            resolved = walk(self.template, decide, track=True)
        except _Missing as exc:
            line, column = self._locate(exc.choice.path)
            domain = exc.choice.domain.describe()
            if exc.present:
                message = f"value {exc.value!r} is not in the domain of choice '{exc.name}'"
            else:
                message = f"no value for choice '{exc.name}'"
            raise SpecError([Diagnostic(self.file, line, column, message, f"its domain: {domain}")]) from None
        result = self.check(resolved)
        if isinstance(result, InvalidPoint):
            raise self._positioned_error(resolved, result)
        return result

    def _locate(self, path: tuple[Any, ...]) -> tuple[int, int]:
        locate = getattr(self.doc, "locate", None)
        return locate(path) if locate is not None else (0, 0)

    def first(self) -> Pipeline | InvalidPoint:
        """The point that takes the first value of every choice (by convention in the shipped
        spaces: the one-greedy-call baseline)."""
        return self.check(walk(self.template, lambda c, n: c.domain.value_at(0)))

    def sample(self, rng: random.Random | int | None = None) -> Pipeline | InvalidPoint:
        """A random point (each choice drawn from its domain; log ranges drawn in log space)."""
        if not isinstance(rng, random.Random):
            rng = random.Random(rng)
        resolved = walk(self.template, lambda c, n: c.domain.sample(rng))
        return self.check(resolved)

    def suggest(self, trial: Any) -> Pipeline:
        """Define-by-run with an Optuna trial: suggests exactly the choices on the path taken.

        Ints use ``suggest_int`` with their step, floats ``suggest_float``, everything else
        ``suggest_categorical`` (values when scalar, else labels or indices). Raises
        :class:`InvalidSpacePoint` when the point is invalid (the trial's params are set already),
        :class:`PointOverBudget` when what makes it invalid includes the per-query budget.
        """
        resolved = walk(self.template, lambda c, n: c.domain.suggest(trial, n), track=True)
        result = self.check(resolved)
        if isinstance(result, InvalidPoint):
            raise self._positioned_error(resolved, result)
        return result

    def to_distributions(self) -> dict[str, Any]:
        """Optuna distributions of every choice (all repeat copies included)."""
        return {c.name: c.domain.distribution() for c in self.choices}

    # ------------------------------------------------------------------ enumeration
    def points(self, max_points: int | None = None) -> Iterator[Resolved]:
        """Every point of a finite space, valid or not, depth-first in document order.

        Raises ValueError for a continuous choice; stops after ``max_points`` points.
        """
        stack: list[tuple[Any, ...]] = [()]
        produced = 0
        while stack:
            prefix = stack.pop()
            it = iter(prefix)

            def decide(choice: ChoiceT, name: str, it: Iterator[Any] = it) -> Any:
                for value in it:
                    return value
                if not choice.domain.finite:
                    raise _Infinite(name)
                raise _Branch(choice.domain.values())

            try:
                resolved = walk(self.template, decide)
            except _Branch as branch:
                stack.extend(prefix + (v,) for v in reversed(branch.values))
                continue
            except _Infinite as exc:
                raise UsageError(f"choice {exc} is continuous (a float range without step): the space cannot be enumerated") from None
            yield resolved
            produced += 1
            if max_points is not None and produced >= max_points:
                return

    def enumerate(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Assignments of the valid points (for grid search), up to ``limit`` of them."""
        found = 0
        for resolved in self.points():
            if isinstance(self.check(resolved), Pipeline):
                yield resolved.assignment
                found += 1
                if limit is not None and found >= limit:
                    return

    def _knuth(self, rng: random.Random) -> tuple[float, Resolved]:
        """One uniform random root-to-leaf walk; returns (product of branching factors, point)."""
        weight = 1.0

        def decide(choice: ChoiceT, name: str) -> Any:
            nonlocal weight
            size = choice.domain.size()
            if size is None:
                weight = math.inf
                return choice.domain.sample(rng)
            weight *= size
            return choice.domain.value_at(rng.randrange(size))

        resolved = walk(self.template, decide)
        return weight, resolved

    def count(self, *, max_points: int = DEFAULT_MAX_POINTS, samples: int = 2000, seed: int = 0,
              every_point: bool = False) -> CountResult:
        """Count valid points: exactly when the space is finite and that takes at most
        ``max_points`` checks, otherwise estimated from ``samples`` random walks (Knuth's
        estimator, which is unbiased for conditional trees: each walk weighs its point by the
        product of the branching factors it met).

        An exact count checks each distinct situation once (:mod:`archon.space.count`), or every
        point where that does not apply. A space with far more than ``max_points`` points (judged
        from 64 random walks) is counted exactly only the first way, with no more checks than the
        estimate would make, so that trying costs at most what estimating does.
        ``every_point=True`` checks every point (the reference the fast count is tested against)."""
        rng = random.Random(seed)
        if self.is_finite:
            probe = [self._knuth(rng)[0] for _ in range(64)]
            too_many_points = sum(probe) / len(probe) > 4 * max_points
            tally = None
            if not every_point:
                limit = min(samples, max_points) if too_many_points else max_points
                tally = count_by_classes(self.template, self._reasons, max_checks=limit)
            if tally is None and not too_many_points:
                tally = self._tally_every_point(max_points)
            if tally is not None:
                return _exact(tally)
        return self._count_estimate(samples, rng)

    def _tally_every_point(self, max_points: int) -> Counter[tuple[str, ...]] | None:
        tally: Counter[tuple[str, ...]] = Counter()
        for checked, resolved in enumerate(self.points(max_points + 1), 1):
            if checked > max_points:
                return None
            tally[self._reasons(resolved)[0]] += 1
        return tally

    def _count_estimate(self, samples: int, rng: random.Random) -> CountResult:
        total = good = 0.0
        valid = 0
        reasons: dict[str, int] = {}
        for _ in range(samples):
            weight, resolved = self._knuth(rng)
            result = self.check(resolved)
            total += weight
            if isinstance(result, Pipeline):
                valid += 1
                good += weight
            else:
                for r in result.reasons:
                    reasons[r] = reasons.get(r, 0) + 1
        finite = not math.isinf(total)
        return CountResult(
            exact=None,
            estimate=(good / samples) if finite else (math.inf if valid else 0.0),
            total_points=(total / samples) if finite else None,
            valid=valid,
            checked=samples,
            invalid_reasons=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            total_is_estimate=True,
            method="sampling",
        )
