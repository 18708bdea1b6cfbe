"""Walking a template with a *decider* to produce one resolved spec (plain data).

A decider is ``decide(choice, name) -> parameter value``; it is asked only for choices that exist
on the path taken so far, in document order, which is exactly what Optuna's define-by-run wants.
Deciders: a fixed assignment, a random generator, an Optuna trial, or a replayed prefix (the
enumerator). Absent items (an optional left out, a ``when`` that fails) vanish: a dropped key
falls back to its default, a dropped component leaves its layer, an emptied layer disappears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from archon.space.choices import same_param
from archon.space.template import (
    ChoiceT,
    Cond,
    Lit,
    TCat,
    TCond,
    TLayer,
    TLayers,
    TList,
    TMap,
    TNum,
    TOneOf,
    TPrefix,
    TRepeat,
    Template,
)

__all__ = ["ABSENT", "Decider", "Resolved", "walk"]

Decider = Callable[[ChoiceT, str], Any]


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


@dataclass
class Resolved:
    """One resolved point: the plain spec data, the assignment that made it, and (when tracked)
    resolved path -> source path for positions."""

    data: dict[str, Any]
    assignment: dict[str, Any]
    sources: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)


class _Walker:
    def __init__(self, decide: Decider, track: bool) -> None:
        self.decide = decide
        self.values: dict[str, Any] = {}
        self.copies: list[int] = []
        self.renames: list[tuple[frozenset[str], int]] = []
        self.track = track
        self.sources: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def name(self, choice: ChoiceT) -> str:
        return choice.name + "".join(f"#{c}" for c in self.copies[: len(choice.chain)])

    def get(self, choice: ChoiceT) -> Any:
        name = self.name(choice)
        if name not in self.values:
            self.values[name] = self.decide(choice, name)
        return self.values[name]

    def holds(self, cond: Cond | None) -> bool:
        if cond is None:
            return True
        for ref, allowed in cond.when:
            value = self.values.get(self.name(ref), ABSENT)
            if value is ABSENT or not any(same_param(value, a) for a in allowed):
                return False
        if cond.optional is not None:
            return self.get(cond.optional) is True
        return True

    # ---------------------------------------------------------------- values
    def emit(self, node: Any, rpath: tuple[Any, ...]) -> Any:
        if isinstance(node, Lit):
            if self.track:
                self.sources[rpath] = node.path
            return node.value
        if self.track:
            self.sources[rpath] = node.path
        if isinstance(node, TMap):
            out = {}
            for key, child in node.items:
                value = self.emit(child, rpath + (key,))
                if value is not ABSENT:
                    out[key] = value
            if node.component and self.renames:
                self._rename(out)
            return out
        if isinstance(node, TList):
            items: list[Any] = []
            for child in node.items:
                value = self.emit(child, rpath + (len(items),))
                if value is not ABSENT:
                    items.append(value)
            return items
        if isinstance(node, TNum):
            return self.get(node.choice)
        if isinstance(node, TCat):
            index = node.choice.domain.index_of(self.get(node.choice))
            return self.emit(node.options[index], rpath)
        if isinstance(node, TPrefix):
            size = node.fixed if node.choice is None else self.get(node.choice)
            items = []
            for child in node.items[:size]:
                value = self.emit(child, rpath + (len(items),))
                if value is not ABSENT:
                    items.append(value)
            return items
        if isinstance(node, TCond):
            return self.emit(node.node, rpath) if self.holds(node.cond) else ABSENT
        if isinstance(node, TLayers):  # a cascade stage's layers
            layers: list[list[Any]] = []
            self.layers(node, layers, rpath)
            return layers
        raise TypeError(f"unexpected template node {type(node).__name__}")

    def _rename(self, comp: dict[str, Any]) -> None:
        for body_ids, copy in reversed(self.renames):
            if isinstance(comp.get("id"), str) and comp["id"] in body_ids:
                comp["id"] = f"{comp['id']}_{copy}"
            if isinstance(comp.get("inputs"), list):
                comp["inputs"] = [f"{r}_{copy}" if isinstance(r, str) and r in body_ids else r for r in comp["inputs"]]

    # ---------------------------------------------------------------- layers
    def layers(self, node: TLayers, out: list[list[Any]], prefix: tuple[Any, ...] = ("pipeline",)) -> None:
        for entry in node.entries:
            if isinstance(entry, TLayer):
                if not self.holds(entry.cond):
                    continue
                li = len(out)
                comps: list[Any] = []
                for child in entry.items:
                    value = self.emit(child, prefix + (li, len(comps)))
                    if value is ABSENT:
                        continue
                    if isinstance(value, list):
                        for k, v in enumerate(value):
                            if self.track:
                                self.sources[prefix + (li, len(comps))] = child.path + ("prefix", k)
                            comps.append(v)
                    else:
                        comps.append(value)
                if comps:
                    if self.track:
                        self.sources[prefix + (li,)] = entry.path
                    out.append(comps)
            elif isinstance(entry, TOneOf):
                if not self.holds(entry.cond):
                    continue
                index = entry.choice.domain.index_of(self.get(entry.choice))
                self.layers(entry.alternatives[index], out, prefix)
            elif isinstance(entry, TRepeat):
                if not self.holds(entry.cond):
                    continue
                count = entry.fixed if entry.choice is None else self.get(entry.choice)
                for copy in range(1, (count or 0) + 1):
                    self.copies.append(copy)
                    self.renames.append((entry.body_ids, copy))
                    assert entry.body is not None
                    self.layers(entry.body, out, prefix)
                    self.renames.pop()
                    self.copies.pop()
            else:
                raise TypeError(f"unexpected layer node {type(entry).__name__}")


def walk(template: Template, decide: Decider, *, track: bool = False, layers: list[list[Any]] | None = None) -> Resolved:
    """Resolve ``template`` once, asking ``decide`` for every choice met on the way.

    ``layers``: a list the pipeline's layers are appended to as each one is resolved, so a decider
    can see the layers finished before the choice it is asked for (the exact count uses it).
    """
    w = _Walker(decide, track)
    data: dict[str, Any] = {}
    for key, node in template.items:
        if key == "pipeline":
            if layers is None:
                layers = []
            w.layers(node, layers)
            data["pipeline"] = layers
        else:
            value = w.emit(node, (key,))
            if value is not ABSENT:
                data[key] = value
    return Resolved(data, dict(w.values), w.sources)
