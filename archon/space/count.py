"""Exact counting that checks each distinct situation once, not every point.

Checking a point means validating and compiling its pipeline (about half a millisecond), and a
space multiplies its choices: Archon's ITAS space has 46,800 points. But a point's validity is
decided by much less than the whole point: a fusion layer is checked against the number and size
of the candidates that reach it, not against which generators and sample counts produced them.
So the count walks the tree of choices depth-first, as the enumerator does
(:meth:`archon.space.Space.points`), and at every decision computes a *key*. Two decisions with
the same key have the same subtree (the same choices left, with the same domains), and every
completion gets the same reasons under both, so the subtree is checked once and its tally reused.

Why the key is enough (``tests/space/test_count_factorised.py`` holds this against checking every
point, on the shipped spaces, on spaces aimed at each rule and on random ones):

* **What the walk does next** depends only on where it stands in the template (the choice it asks
  for), how many copies of each enclosing repeat remain, the values decided in the layer it is
  resolving (that layer is unfinished) and the values that later ``when`` conditions read. These
  are in the key.
* **What the rules see of the layers resolved so far.** Call a layer made only of ``generate`` and
  ``fuse`` nodes a *barrier*. The candidates leaving it are new (no annotation or critique crosses
  it), and their number and size follow from its nodes' own settings (samples, max_tokens; see
  :mod:`archon.graph.cost`). So every rule and cost estimate at a node after the last barrier sees
  what came before it only through the barrier layer, which is in the key with the layers after it
  (the *tail*). Whatever the rules find at the barrier and before it is then settled: the reasons
  of the pipeline cut after the barrier (the *settled reasons*) are in the key. They may include
  ``single-output`` for a barrier of several nodes, which the final pipeline does not break, but
  that depends on the barrier layer alone, which the tail holds already. A point with a schema
  error reports only schema errors; the settled reasons are then the cut's schema errors, and the
  argument is the same.
* **Budget.** The per-query budget rule is the one rule that sums over every node, and it sums
  calls only (token and dollar limits are the runtime's), so under ``budget.per_query.calls`` the
  cut's calls are in the key too, capped just past the limit: calls only add up, so past it every
  completion is over the limit alike.

So a point's reasons are the settled reasons plus what the tail and the rest of the point produce,
the same for two decisions with equal keys. The settled part costs a check of the cut, so it is
computed only when two decisions agree on the rest of the key.

The argument needs every layer to consume the one before it and every choice to be in the
pipeline: an ``inputs:`` list wires around the layer order, a repeated ``id`` can clash, and a
choice under ``models:`` or ``budget:`` changes what every layer is checked against. For such
spaces :func:`count_by_classes` returns None and the caller checks every point.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from archon.graph import calls_for, candidates_out
from archon.graph.cost import CODE_BENCHMARKS
from archon.space.template import ChoiceT, Cond, Lit, TCat, TCond, TLayer, TLayers, TList, TMap, TOneOf, TPrefix, TRepeat, Template
from archon.space.walk import Resolved, walk

__all__ = ["count_by_classes"]

#: Kinds whose output candidates are new and sized by the node's own settings (see the docstring).
BARRIER_KINDS = frozenset({"generate", "fuse"})

#: Reason (tally key) of a valid point.
VALID: tuple[str, ...] = ()

#: A point's reasons (sorted rule ids with their statement, or schema errors), VALID if none.
Reasons = tuple[str, ...]
#: Check one resolved point: its reasons, and its typed spec (None after a schema error).
Check = Callable[[Resolved], tuple[Reasons, Any]]

#: Most choices on one path of the tree walked here (two stack frames each, well inside Python's
#: limit of 1,000); a deeper space is counted the other way (point by point, or estimated).
MAX_DEPTH = 300


class _Branch(Exception):
    def __init__(self, choice: ChoiceT, name: str) -> None:
        self.choice, self.name = choice, name


class _OverLimit(Exception):
    pass


@dataclass
class _Classes:
    """Subtree tallies of the decisions that share a key, by their settled part. The first one is
    kept with its cut until a second decision arrives, so a key met once costs no settling check."""

    first: tuple[list[Any] | None, Counter[Reasons]] | None
    by_settled: dict[Any, Counter[Reasons]] = field(default_factory=dict)


def count_by_classes(template: Template, check: Check, *, max_checks: int) -> Counter[Reasons] | None:
    """The reasons of every point of a finite space, tallied (``VALID`` for valid points), with at
    most ``max_checks`` checks; None when the space does not meet the preconditions in the module
    docstring or needs more checks. ``check(resolved)`` returns (reasons, typed spec or None)."""
    depth = sum(math.prod(rep.max_count for rep in c.chain) for c in template.choices)
    if depth > MAX_DEPTH or not _layered(template):
        return None
    return _ClassCounter(template, check, max_checks).run()


class _ClassCounter:
    def __init__(self, template: Template, check: Check, max_checks: int) -> None:
        self.template = template
        self.check = check
        self.max_checks = max_checks
        self.checks = 0
        self.index = {id(c): i for i, c in enumerate(template.choices)}
        self.read_later = {id(c) for c in _condition_refs(template)}
        rest = walk(template, lambda c, n: c.domain.value_at(0)).data
        self.rest = {k: v for k, v in rest.items() if k != "pipeline"}
        self.settled: dict[str, Any] = {}  # repr(cut layers) -> what the rules settled up to there
        self.memo: dict[tuple[Any, ...], _Classes] = {}  # key without the settled part -> tallies

    def run(self) -> Counter[Reasons] | None:
        try:
            return self.explore(())
        except _OverLimit:
            return None

    def checked(self, resolved: Resolved) -> tuple[Reasons, Any]:
        self.checks += 1
        if self.checks > self.max_checks:
            raise _OverLimit
        return self.check(resolved)

    def explore(self, prefix: tuple[Any, ...]) -> Counter[Reasons]:
        """Tally of the subtree below ``prefix`` (values of the first choices met, in order)."""
        decided: list[tuple[ChoiceT, str, Any, int]] = []  # choice, name, value, layers done then
        layers: list[list[Any]] = []

        def decide(choice: ChoiceT, name: str) -> Any:
            if len(decided) == len(prefix):
                raise _Branch(choice, name)
            value = prefix[len(decided)]
            decided.append((choice, name, value, len(layers)))
            return value

        try:
            resolved = walk(self.template, decide, layers=layers)
        except _Branch as branch:
            choice, name = branch.choice, branch.name
        else:
            return Counter({self.checked(resolved)[0]: 1})

        cut = _last_barrier(layers)
        key = self.key(choice, name, decided, layers, cut)
        cut_layers = layers[: cut + 1] if cut is not None else None
        classes = self.memo.get(key)
        if classes is None:  # the first decision with this key needs no settled part (yet)
            tally = self.branch(prefix, choice)
            self.memo[key] = _Classes(first=(cut_layers, tally))
            return tally
        if classes.first is not None:
            other, tally = classes.first
            classes.by_settled[self.settle(other)] = tally
            classes.first = None
        settled = self.settle(cut_layers)
        if settled not in classes.by_settled:
            classes.by_settled[settled] = self.branch(prefix, choice)
        return classes.by_settled[settled]

    def branch(self, prefix: tuple[Any, ...], choice: ChoiceT) -> Counter[Reasons]:
        tally: Counter[Reasons] = Counter()
        domain = choice.domain
        for i in range(domain.size()):  # not domain.values(): a range may hold 10^9 values
            for reasons, n in self.explore(prefix + (domain.value_at(i),)).items():
                tally[reasons] += n
        return tally

    def key(self, choice: ChoiceT, name: str, decided: list[tuple[ChoiceT, str, Any, int]], layers: list[list[Any]],
            cut: int | None) -> tuple[Any, ...]:
        values = {n: v for _, n, v, _ in decided}
        copies = [int(c) for c in name[len(choice.name):].split("#")[1:]]
        remaining = []
        for k, rep in enumerate(choice.chain):
            count = rep.fixed or 0 if rep.choice is None else values[rep.choice.name + "".join(f"#{c}" for c in copies[:k])]
            remaining.append(count - copies[k])
        unfinished = tuple((self.index[id(c)], repr(v)) for c, _, v, done in decided if done == len(layers))
        read = tuple((n, repr(v)) for c, n, v, _ in decided if id(c) in self.read_later)
        tail = repr(layers[cut:] if cut is not None else layers)
        return (self.index[id(choice)], tuple(remaining), unfinished, read, tail)

    def settle(self, cut_layers: list[Any] | None) -> Any:
        """What the rules settled in the layers up to and including the last barrier: their
        reasons and, under a per-query budget, their calls."""
        if cut_layers is None:
            return None
        text = repr(cut_layers)
        if text not in self.settled:
            reasons, spec = self.checked(Resolved({**self.rest, "pipeline": cut_layers}, {}))
            limit = spec.budget.per_query.calls if spec is not None else None
            calls = None
            if limit is not None:  # calls only add up: past the limit, every completion is over it alike
                calls = min(_chain_calls(spec), limit + 1)
            self.settled[text] = (reasons, calls)
        return self.settled[text]


def _chain_calls(spec: Any) -> int:
    """Model calls per query of a pipeline whose every layer consumes the one before, by the cost
    model's own per-node counts (what :meth:`archon.graph.Pipeline.static_cost` sums), which a cut
    that breaks a rule does not get from compiling."""
    code_task = spec.benchmark is not None and spec.benchmark.name in CODE_BENCHMARKS
    calls = arriving = 0
    for layer in spec.pipeline.layers:
        calls += sum(calls_for(c, arriving, code_task=code_task) for c in layer)
        arriving = sum(candidates_out(c, arriving) for c in layer)
    return calls


def _last_barrier(layers: list[list[Any]]) -> int | None:
    for i in range(len(layers) - 1, -1, -1):
        if all(isinstance(c, dict) and c.get("type") in BARRIER_KINDS for c in layers[i]):
            return i
    return None


# ----------------------------------------------------------------------------- preconditions


def _layered(template: Template) -> bool:
    """Every choice is in the pipeline, no component names ``inputs``, and each ``id`` is a
    literal written once, outside repeats (so no two nodes of a point can share one)."""
    if any(c.path[:1] != ("pipeline",) for c in template.choices):
        return False
    pipeline = next((node for key, node in template.items if key == "pipeline"), None)
    ids: list[Any] = []
    ok = True

    def data(value: Any, in_repeat: bool) -> None:
        nonlocal ok
        if isinstance(value, dict):
            if "inputs" in value or ("id" in value and in_repeat):
                ok = False
            if "id" in value:
                ids.append(value["id"])
            for v in value.values():
                data(v, in_repeat)
        elif isinstance(value, list):
            for v in value:
                data(v, in_repeat)

    def node(n: Any, in_repeat: bool) -> None:
        nonlocal ok
        if isinstance(n, Lit):
            data(n.value, in_repeat)
        elif isinstance(n, TMap):
            for k, child in n.items:
                if k == "inputs" or (k == "id" and (in_repeat or not isinstance(child, Lit))):
                    ok = False
                if k == "id" and isinstance(child, Lit):
                    ids.append(child.value)
                node(child, in_repeat)
        elif isinstance(n, (TList, TLayer)):
            for child in n.items:
                node(child, in_repeat)
        elif isinstance(n, TPrefix):
            for child in n.items:
                node(child, in_repeat)
        elif isinstance(n, TCat):
            for child in n.options:
                node(child, in_repeat)
        elif isinstance(n, TCond):
            node(n.node, in_repeat)
        elif isinstance(n, TLayers):
            for child in n.entries:
                node(child, in_repeat)
        elif isinstance(n, TOneOf):
            for alt in n.alternatives:
                node(alt, in_repeat)
        elif isinstance(n, TRepeat) and n.body is not None:
            node(n.body, True)

    node(pipeline, False)
    return ok and len(ids) == len({repr(i) for i in ids})


def _condition_refs(template: Template) -> list[ChoiceT]:
    """Choices named by some ``when`` (the walk reads their values after deciding them)."""
    refs: list[ChoiceT] = []

    def cond(c: Cond | None) -> None:
        if c is not None:
            refs.extend(ref for ref, _ in c.when)

    def node(n: Any) -> None:
        if isinstance(n, TMap):
            for _, child in n.items:
                node(child)
        elif isinstance(n, (TList, TLayer, TPrefix)):
            if isinstance(n, TLayer):
                cond(n.cond)
            for child in n.items:
                node(child)
        elif isinstance(n, TCat):
            for child in n.options:
                node(child)
        elif isinstance(n, TCond):
            cond(n.cond)
            node(n.node)
        elif isinstance(n, TLayers):
            for child in n.entries:
                node(child)
        elif isinstance(n, TOneOf):
            cond(n.cond)
            for alt in n.alternatives:
                node(alt)
        elif isinstance(n, TRepeat):
            cond(n.cond)
            if n.body is not None:
                node(n.body)

    for _, n in template.items:
        node(n)
    return refs
