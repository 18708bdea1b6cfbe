"""A spec file as loaded: plain data, where each part was written, and whether it is a space.

This is the hand-off between the YAML layer and everything that interprets a spec. The loader
normalises the shorthand users write so that later stages see one shape:

* ``space:`` is renamed to ``pipeline:`` (exactly one of the two must be present);
* a layer written as a bare component becomes a one-component layer (list of lists), also inside
  ``one_of`` alternatives, ``repeat`` blocks, ``{layer: ...}`` mappings and a cascade's
  ``stages[i].layers``;
* ``benchmark: name`` becomes ``benchmark: {name: name}``.

Positions are re-keyed to the normalised paths, so ``locate(("pipeline", 2, 0, "samples"))``
points at the text the user wrote even when layer 2 was a bare component.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from archon.errors import Diagnostic, SpecError
from archon.spec.yamlload import MAX_BYTES, Path, Position, YamlTree, load_yaml_bytes, load_yaml_text, oversize_diagnostic

__all__ = [
    "CHOICE_MARKERS",
    "LAYER_MARKERS",
    "SpecDocument",
    "is_choice_marker",
    "load_spec_file",
    "load_spec_text",
]

#: Keys that, as the *first* key of a mapping, make it a choice marker (see docs/architecture.md).
CHOICE_MARKERS = ("int", "float", "choice", "prefix")
#: Markers that stand in a layer position.
LAYER_MARKERS = ("one_of", "repeat", "layer")
#: Keys that make a component or layer mapping conditional or optional.
CONDITION_KEYS = ("optional", "when")
#: Free-form sections whose keys are user data, never markers.
_FREE_FORM = {("prompts",), ("benchmark", "options")}


def is_choice_marker(value: Any) -> bool:
    """True for a value-position marker such as ``{int: [1, 5]}`` or ``{choice: [a, b]}``."""
    return isinstance(value, dict) and bool(value) and next(iter(value)) in CHOICE_MARKERS


def _is_layer_marker(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and next(iter(value)) in LAYER_MARKERS


@dataclass
class SpecDocument:
    """A loaded spec. ``data`` is normalised (see module docstring); paths index into it.

    ``positions`` holds the 1-based (line, column) of every value, ``key_positions`` that of every
    mapping key. ``top_key`` is the key the user wrote (``pipeline`` or ``space``).
    """

    data: dict[str, Any]
    positions: dict[Path, Position]
    file: str
    is_space: bool
    key_positions: dict[Path, Position] = field(default_factory=dict)
    top_key: str = "pipeline"

    def locate(self, path: Path | list[Any], *, key: bool = False) -> Position:
        """Position of ``path``, or of its nearest ancestor that has one (``(1, 1)`` at worst).

        With ``key=True`` the position of the mapping key is preferred (for "unknown key" errors).
        """
        path = tuple(path)
        while True:
            if key and path in self.key_positions:
                return self.key_positions[path]
            if path in self.positions:
                return self.positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def diagnostic(self, path: Path | list[Any], message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        """A :class:`Diagnostic` for ``path`` in this file."""
        line, column = self.locate(path, key=key)
        return Diagnostic(self.file, line, column, message, hint)


# ----------------------------------------------------------------------------- normalisation


class _Normaliser:
    """Rewrites the shorthand and remembers where a path gained an extra ``0`` (a wrapped layer)."""

    def __init__(self) -> None:
        self.wrapped: set[Path] = set()  # old paths of bare components that became [component]

    def layers(self, value: Any, path: Path) -> Any:
        if not isinstance(value, list):
            return value
        return [self.layer(item, path + (i,)) for i, item in enumerate(value)]

    def layer(self, item: Any, path: Path) -> Any:
        if isinstance(item, list):
            return [self.component(c, path + (j,)) for j, c in enumerate(item)]
        if _is_layer_marker(item):
            kind = next(iter(item))
            out = dict(item)
            if kind == "one_of" and isinstance(item["one_of"], list):
                out["one_of"] = [self.layers(alt, path + ("one_of", i)) for i, alt in enumerate(item["one_of"])]
            elif kind == "repeat" and "layers" in item:
                out["layers"] = self.layers(item["layers"], path + ("layers",))
            elif kind == "layer" and isinstance(item["layer"], dict) and not _is_layer_marker(item["layer"]):
                self.wrapped.add(path + ("layer",))
                out["layer"] = [self.component(item["layer"], path + ("layer",))]
            elif kind == "layer" and isinstance(item["layer"], list):
                out["layer"] = [self.component(c, path + ("layer", j)) for j, c in enumerate(item["layer"])]
            return out
        if isinstance(item, dict):
            self.wrapped.add(path)
            return [self.component(item, path)]
        return item

    def component(self, comp: Any, path: Path) -> Any:
        """A component as written; a cascade's stage layers get the layer shorthand too."""
        if is_choice_marker(comp) and next(iter(comp)) == "choice" and isinstance(comp["choice"], list):
            return {**comp, "choice": [self.component(o, path + ("choice", i)) for i, o in enumerate(comp["choice"])]}
        if not isinstance(comp, dict) or comp.get("type") != "cascade" or "stages" not in comp:
            return comp
        return {**comp, "stages": self.choices(comp["stages"], path + ("stages",), self.stages)}

    def choices(self, value: Any, path: Path, each: Any) -> Any:
        """``each(value, path)``, or on every option when ``value`` is a ``{choice: [...]}``."""
        if is_choice_marker(value) and next(iter(value)) == "choice" and isinstance(value["choice"], list):
            return {**value, "choice": [each(o, path + ("choice", i)) for i, o in enumerate(value["choice"])]}
        return each(value, path)

    def stages(self, value: Any, path: Path) -> Any:
        if not isinstance(value, list):
            return value
        return [self.choices(stage, path + (i,), self.stage) for i, stage in enumerate(value)]

    def stage(self, stage: Any, path: Path) -> Any:
        if not isinstance(stage, dict) or "layers" not in stage:
            return stage
        return {**stage, "layers": self.choices(stage["layers"], path + ("layers",), self.layers)}

    def remap(self, old: Path) -> Path:
        new: list[Any] = []
        for k, part in enumerate(old):
            new.append(part)
            if old[: k + 1] in self.wrapped:
                new.append(0)
        return tuple(new)


def _contains_marker(value: Any, path: Path = ()) -> bool:
    if path in _FREE_FORM:
        return False
    if isinstance(value, dict):
        if value and next(iter(value)) in CHOICE_MARKERS + LAYER_MARKERS:
            return True
        if path[:1] == ("pipeline",) and any(k in value for k in CONDITION_KEYS):
            return True
        return any(_contains_marker(v, path + (k,)) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_marker(v, path + (i,)) for i, v in enumerate(value))
    return False


def _document(tree: YamlTree, file: str) -> SpecDocument:
    data = tree.data
    if data is None:
        raise SpecError([Diagnostic(file, 1, 1, "the spec is empty", "a spec is a mapping with a 'pipeline:' or 'space:' section")])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        raise SpecError(
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    f"the top level of a spec must be a mapping, not {kind}",
                    "write 'pipeline:' (or 'space:') and put the layers under it",
                )
            ]
        )
    present = [k for k in ("pipeline", "space") if k in data]
    if len(present) == 2:
        line, column = tree.key_positions[("space",)] if list(data).index("space") > list(data).index("pipeline") else tree.key_positions[("pipeline",)]
        raise SpecError(
            [
                Diagnostic(
                    file,
                    line,
                    column,
                    "both 'pipeline:' and 'space:' are given",
                    "use exactly one: 'pipeline:' for one architecture, 'space:' for a search space",
                )
            ]
        )
    if not present:
        raise SpecError(
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    "missing 'pipeline:' section",
                    "a spec needs 'pipeline:' (one architecture) or 'space:' (a search space of architectures)",
                )
            ]
        )
    top_key = present[0]
    normaliser = _Normaliser()
    prefix: Path = (top_key,)
    new_data: dict[str, Any] = {}
    for key, value in data.items():
        if key == top_key:
            new_data["pipeline"] = normaliser.layers(value, prefix)
        elif key == "benchmark" and isinstance(value, str):
            new_data[key] = {"name": value}
        else:
            new_data[key] = value

    def rename(path: Path) -> Path:
        path = normaliser.remap(path)
        return ("pipeline",) + path[1:] if path[:1] == prefix else path

    positions = {rename(p): pos for p, pos in tree.positions.items()}
    key_positions = {rename(p): pos for p, pos in tree.key_positions.items()}
    for old in normaliser.wrapped:  # the wrapping list sits where the bare component was written
        new = rename(old)[:-1]
        positions.setdefault(new, tree.positions.get(old, (1, 1)))
    if isinstance(data.get("benchmark"), str):
        positions[("benchmark", "name")] = tree.positions[("benchmark",)]
        key_positions[("benchmark", "name")] = tree.key_positions[("benchmark",)]
    return SpecDocument(
        data=new_data,
        positions=positions,
        key_positions=key_positions,
        file=file,
        is_space=_contains_marker(new_data),
        top_key=top_key,
    )


def load_spec_text(text: str, file: str = "<string>") -> SpecDocument:
    """Parse and normalise a spec given as text; raise :class:`SpecError` with every problem."""
    return _document(load_yaml_text(text, file), file)


def load_spec_file(path: str | os.PathLike[str]) -> SpecDocument:
    """Read, parse and normalise a spec file (the size limit is checked before reading it all)."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        if size > MAX_BYTES:
            raise SpecError([oversize_diagnostic(name, size)])
        with open(name, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SpecError([Diagnostic(name, 0, 0, f"cannot read the spec: {reason}")]) from None
    return _document(load_yaml_bytes(raw, name), name)
