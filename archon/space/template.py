"""Parsing a space document into a template: plain values with choice nodes in them.

The parser checks the choice markers themselves (ranges, steps, sizes, names, ``when``
references) and reports every problem with its position; the schema of the *resolved* pipeline is
checked later, per point, by :mod:`archon.space.space`. See the "Choice syntax" table in
docs/architecture.md and docs/spaces.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from archon.errors import Diagnostic, SpecError
from archon.space.choices import Categorical, FloatRange, IntRange, is_scalar, same_param
from archon.util import did_you_mean, is_int, is_number

__all__ = [
    "ChoiceT",
    "Cond",
    "Lit",
    "TCat",
    "TCond",
    "TLayer",
    "TLayers",
    "TList",
    "TMap",
    "TNum",
    "TOneOf",
    "TPrefix",
    "TRepeat",
    "Template",
    "parse_template",
]

VALUE_MARKERS = ("int", "float", "choice", "prefix")
LAYER_MARKERS = ("one_of", "repeat", "layer")
#: Most copies a repeat may make: deeper than any published layered system by far; a typo such
#: as ``repeat: 100000`` is an error here instead of an hour spent building one huge graph.
MAX_REPEAT = 64
_FREE_FORM = {("prompts",), ("benchmark", "options")}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_EXTRA_KEYS = {
    "int": {"name", "when"},
    "float": {"name", "when"},
    "choice": {"name", "when", "labels"},
    "prefix": {"name", "when", "size"},
    "one_of": {"name", "when", "labels"},
    "repeat": {"name", "when", "layers"},
    "layer": {"optional", "when"},
}

Path = tuple[Any, ...]


@dataclass(eq=False)
class ChoiceT:
    """A choice as written: base name (without ``#i``), domain, and what it depends on."""

    name: str
    kind: str
    domain: Any
    path: Path
    chain: tuple["TRepeat", ...]  # enclosing repeat blocks, outermost first
    conds: list[tuple["ChoiceT", tuple[Any, ...]]] = field(default_factory=list)


@dataclass(eq=False)
class Cond:
    """Existence condition: every ``when`` entry holds, then the optional (if any) is chosen."""

    when: list[tuple[ChoiceT, tuple[Any, ...]]]
    optional: ChoiceT | None = None


@dataclass(eq=False)
class Lit:
    value: Any
    path: Path


@dataclass(eq=False)
class TMap:
    items: list[tuple[str, Any]]
    path: Path
    component: bool = False


@dataclass(eq=False)
class TList:
    items: list[Any]
    path: Path


@dataclass(eq=False)
class TCat:
    choice: ChoiceT
    options: list[Any]
    path: Path


@dataclass(eq=False)
class TNum:
    choice: ChoiceT
    path: Path


@dataclass(eq=False)
class TPrefix:
    choice: ChoiceT | None
    fixed: int | None
    items: list[Any]
    path: Path


@dataclass(eq=False)
class TCond:
    cond: Cond
    node: Any
    path: Path


@dataclass(eq=False)
class TLayer:
    items: list[Any]
    path: Path
    cond: Cond | None = None


@dataclass(eq=False)
class TLayers:
    entries: list[Any]
    path: Path


@dataclass(eq=False)
class TOneOf:
    choice: ChoiceT
    alternatives: list[TLayers]
    path: Path
    cond: Cond | None = None


@dataclass(eq=False)
class TRepeat:
    choice: ChoiceT | None
    fixed: int | None
    body: TLayers | None
    path: Path
    body_ids: frozenset[str] = frozenset()
    cond: Cond | None = None

    @property
    def max_count(self) -> int:
        if self.choice is None:
            return self.fixed or 0
        return max(self.choice.domain.values())

    def counts(self) -> list[int]:
        return [self.fixed or 0] if self.choice is None else list(self.choice.domain.values())


@dataclass
class Template:
    """The parsed space: top-level entries (``pipeline`` is a :class:`TLayers`) and its choices."""

    items: list[tuple[str, Any]]
    choices: list[ChoiceT]
    file: str


# ----------------------------------------------------------------------------- parser


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _has_marker(value: Any) -> bool:
    if isinstance(value, dict):
        if value and next(iter(value)) in VALUE_MARKERS + LAYER_MARKERS:
            return True
        if "optional" in value or "when" in value:
            return True
        return any(_has_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_marker(v) for v in value)
    return False


class _Parser:
    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self.file = getattr(doc, "file", "<space>")
        self.problems: list[Diagnostic] = []
        self.registry: dict[str, ChoiceT] = {}
        self.choices: list[ChoiceT] = []
        self.chain: list[TRepeat] = []
        self.structural: list[tuple[ChoiceT, tuple[Any, ...]]] = []
        self.ids: list[set[str]] = []  # ids declared inside each enclosing repeat body

    # -------------------------------------------------------------- reporting
    def error(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        locate = getattr(self.doc, "locate", None)
        line, column = (0, 0)
        if locate is not None:
            try:
                line, column = locate(path, key=key)
            except TypeError:
                line, column = locate(path)
        self.problems.append(Diagnostic(self.file, line, column, message, hint))

    # -------------------------------------------------------------- choices
    def new_choice(self, marker: dict[str, Any], kind: str, domain: Any, path: Path, default_name: str, when: list[Any]) -> ChoiceT:
        name = marker.get("name") if isinstance(marker, dict) else None
        if name is None:
            name = default_name
        elif not isinstance(name, str) or not _NAME.match(name):
            self.error(path + ("name",), f"invalid choice name {name!r}", "letters, digits, '_', '.', '-', starting with a letter or '_' ('#' is reserved for repeat copies)")
            name = default_name
        if name in self.registry:
            other = self.registry[name]
            line = self._line(other.path)
            self.error(path + ("name",) if "name" in marker else path, f"choice name '{name}' is used twice", f"first used at line {line}; names must be unique")
        choice = ChoiceT(name, kind, domain, path, tuple(self.chain), conds=list(self.structural) + list(when))
        self.registry[name] = choice
        self.choices.append(choice)
        return choice

    def _line(self, path: Path) -> int:
        locate = getattr(self.doc, "locate", None)
        return locate(path)[0] if locate is not None else 0

    def check_keys(self, marker: dict[str, Any], kind: str, path: Path) -> None:
        allowed = _EXTRA_KEYS[kind] | {kind}
        for key in marker:
            if key not in allowed:
                guess = did_you_mean(key, sorted(allowed))
                hint = f"did you mean '{guess}'?" if guess else f"{_article(kind)} {kind} marker takes: {', '.join(sorted(allowed))}"
                self.error(path + (key,), f"unknown key '{key}' in {_article(kind)} {kind} marker", hint, key=True)

    def parse_when(self, value: Any, path: Path) -> list[tuple[ChoiceT, tuple[Any, ...]]]:
        if value is None:
            return []
        if not isinstance(value, dict) or not value:
            self.error(path, "'when' must be a mapping of choice names to values", "e.g. when: {critic: true}")
            return []
        out = []
        for ref_name, allowed in value.items():
            ref = self.registry.get(ref_name)
            if ref is None:
                guess = did_you_mean(ref_name, sorted(self.registry))
                hint = f"did you mean '{guess}'?" if guess else "a when condition may only name a choice defined earlier in the file"
                self.error(path + (ref_name,), f"'when' names an unknown choice '{ref_name}'", hint, key=True)
                continue
            if ref.chain != tuple(self.chain[: len(ref.chain)]):
                self.error(path + (ref_name,), f"'when' names '{ref_name}', which belongs to another repeat block", "only choices outside it or in the same block copy can be referenced", key=True)
                continue
            values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
            if ref.domain.finite:
                params = ref.domain.values()
                for v in values:
                    if not any(same_param(v, p) for p in params):
                        self.error(path + (ref_name,), f"'when' value {v!r} is not a value of choice '{ref_name}'", f"its values: {', '.join(map(str, params))}")
            out.append((ref, values))
        return out

    # -------------------------------------------------------------- ranges
    def parse_range(self, marker: dict[str, Any], kind: str, path: Path) -> Any:
        spec = marker[kind]
        vpath = path + (kind,)
        low = high = None
        step: Any = 1 if kind == "int" else None
        log: Any = False
        if isinstance(spec, list):
            if len(spec) != 2:
                self.error(vpath, f"{_article(kind)} {kind} range is [low, high]", f"got {len(spec)} items; write {{low: , high: , step: }} for a step")
                return None
            low, high = spec
        elif isinstance(spec, dict):
            for key in spec:
                if key not in ("low", "high", "step", "log"):
                    self.error(vpath + (key,), f"unknown key '{key}' in {_article(kind)} {kind} range", "use low, high, step, log", key=True)
            if "low" not in spec or "high" not in spec:
                self.error(vpath, f"{_article(kind)} {kind} range needs low and high")
                return None
            low, high = spec["low"], spec["high"]
            step = spec.get("step", step)
            log = spec.get("log", False)
        else:
            self.error(vpath, f"{_article(kind)} {kind} range is [low, high] or {{low: , high: , step: , log: }}")
            return None
        ok = is_int if kind == "int" else is_number
        if not ok(low) or not ok(high):
            what = "integers" if kind == "int" else "numbers"
            self.error(vpath, f"the bounds of {_article(kind)} {kind} range must be {what}", f"got {low!r} and {high!r}")
            return None
        if low > high:
            self.error(vpath, f"empty {kind} range: low {low} is above high {high}", "swap the bounds")
            return None
        if not isinstance(log, bool):
            self.error(vpath + ("log",), "'log' must be true or false")
            return None
        if kind == "int":
            if not is_int(step) or step < 1:
                self.error(vpath + ("step",), f"an int step must be an integer >= 1, got {step!r}")
                return None
            if (high - low) % step:
                top = low + (high - low) // step * step
                self.error(vpath, f"int range [{low}, {high}] is not a whole number of steps of {step}", f"use high: {top}")
                return None
            if log and (low < 1 or step != 1):
                self.error(vpath, "a log int range needs low >= 1 and step 1")
                return None
            return IntRange(int(low), int(high), int(step), log)
        if step is not None:
            if not is_number(step) or step <= 0:
                self.error(vpath + ("step",), f"a float step must be a number > 0, got {step!r}")
                return None
            k = (high - low) / step
            if abs(k - round(k)) > 1e-9:
                self.error(vpath, f"float range [{low}, {high}] is not a whole number of steps of {step}", f"use high: {low + int(k) * step:g}")
                return None
            if log:
                self.error(vpath, "a float range cannot have both step and log")
                return None
        if log and low <= 0:
            self.error(vpath, "a log float range needs low > 0")
            return None
        return FloatRange(float(low), float(high), None if step is None else float(step), log)

    def count_domain(self, value: Any, path: Path, what: str, minimum: int,
                     maximum: int | None = None) -> tuple[Any, dict[str, Any] | None]:
        """A count given as an int, an int marker, or a choice of ints -> (domain or int, marker)."""
        if is_int(value):
            if value < minimum:
                self.error(path, f"{what} must be >= {minimum}, got {value}")
            elif maximum is not None and value > maximum:
                self.error(path, f"{what} must be <= {maximum}, got {value}")
            return value, None
        if isinstance(value, dict) and value and next(iter(value)) in ("int", "choice"):
            kind = next(iter(value))
            self.check_keys(value, kind, path)
            if kind == "int":
                domain = self.parse_range(value, "int", path)
            else:
                opts = value["choice"]
                if not isinstance(opts, list) or not opts or not all(is_int(o) for o in opts):
                    self.error(path + ("choice",), f"{what} choices must be a list of integers")
                    return None, value
                domain = Categorical(tuple(opts))
            if domain is not None:
                low, high = (domain.low, domain.high) if isinstance(domain, IntRange) else (min(domain.values()), max(domain.values()))
                if low < minimum:
                    self.error(path, f"{what} must be >= {minimum}, the range allows {low}")
                elif maximum is not None and high > maximum:
                    self.error(path, f"{what} must be <= {maximum}, the range allows {high}")
            return domain, value
        self.error(path, f"{what} must be an integer or an int marker", "e.g. {int: [1, 4]}")
        return None, None

    # -------------------------------------------------------------- values
    def value(self, value: Any, path: Path, *, component_ctx: bool = False) -> Any:
        if path in _FREE_FORM or not _has_marker(value):
            return Lit(value, path)
        if isinstance(value, dict):
            first = next(iter(value))
            if first in VALUE_MARKERS:
                return self.marker(value, path, component_ctx=component_ctx)
            if first in LAYER_MARKERS:
                self.error(path, f"'{first}' is only allowed where a layer goes", "put it directly in the pipeline's list of layers", key=True)
                return Lit(None, path)
            if component_ctx or "type" in value:
                return self.component(value, path)
            return TMap([(k, self.value(v, path + (k,))) for k, v in value.items()], path)
        if isinstance(value, list):
            return TList([self.value(v, path + (i,), component_ctx=component_ctx) for i, v in enumerate(value)], path)
        return Lit(value, path)

    def marker(self, marker: dict[str, Any], path: Path, *, component_ctx: bool = False) -> Any:
        kind = next(iter(marker))
        self.check_keys(marker, kind, path)
        when = self.parse_when(marker.get("when"), path + ("when",))
        node: Any
        if kind in ("int", "float"):
            domain = self.parse_range(marker, kind, path)
            if domain is None:
                return Lit(None, path)
            node = TNum(self.new_choice(marker, kind, domain, path, _dotted(path), when), path)
        elif kind == "choice":
            options = marker["choice"]
            if not isinstance(options, list) or not options:
                self.error(path + ("choice",), "a choice needs a non-empty list of options")
                return Lit(None, path)
            seen: list[Any] = []
            for i, o in enumerate(options):
                if any(same_param(o, s) if is_scalar(o) and is_scalar(s) else o == s for s in seen):
                    self.error(path + ("choice", i), f"option {o!r} is listed twice", "each option once")
                seen.append(o)
            labels = marker.get("labels")
            if labels is not None:
                if not isinstance(labels, list) or len(labels) != len(options) or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
                    self.error(path + ("labels",), "labels must be a list of distinct strings, one per option")
                    labels = None
            domain = Categorical(tuple(options), tuple(labels) if labels else None)
            choice = self.new_choice(marker, "categorical", domain, path, _dotted(path), when)
            parsed = []
            for i, o in enumerate(options):
                self.structural.append((choice, (domain.params()[i],)))
                parsed.append(self.value(o, path + ("choice", i), component_ctx=component_ctx))
                self.structural.pop()
            node = TCat(choice, parsed, path)
        else:  # prefix
            items = marker["prefix"]
            if not isinstance(items, list) or not items:
                self.error(path + ("prefix",), "a prefix needs a non-empty list")
                return Lit(None, path)
            if "size" not in marker:
                self.error(path, "a prefix needs 'size' (an integer or an int marker)", "e.g. size: {int: [1, 3]}")
                return Lit(None, path)
            domain, size_marker = self.count_domain(marker["size"], path + ("size",), "prefix size", 1)
            if domain is None:
                return Lit(None, path)
            top = domain if is_int(domain) else max(domain.values())
            if top > len(items):
                self.error(path + ("size",), f"prefix size goes up to {top} but the list has {len(items)} items", f"use at most {len(items)}")
            parsed = [self.value(v, path + ("prefix", i), component_ctx=component_ctx) for i, v in enumerate(items)]
            if is_int(domain):
                node = TPrefix(None, domain, parsed, path)
            else:
                if size_marker is not None and "name" in size_marker and "name" in marker:
                    self.error(path + ("size", "name"), "name the prefix or its size, not both")
                named = marker if "name" in marker else (size_marker or {})
                kind_name = "prefix"
                choice = self.new_choice(named, kind_name, domain, path, _dotted(path), when)
                node = TPrefix(choice, None, parsed, path)
            if when:
                node = TCond(Cond(when), node, path)
                return node
            return node
        if when:
            return TCond(Cond(when), node, path)
        return node

    def condition(self, mapping: dict[str, Any], path: Path) -> Cond | None:
        when = self.parse_when(mapping.get("when"), path + ("when",))
        optional = None
        flag = mapping.get("optional", False)
        if flag is True or isinstance(flag, str):
            name = flag if isinstance(flag, str) else None
            marker = {"name": name} if name else {}
            optional = self.new_choice(marker, "optional", Categorical((True, False)), path + ("optional",), _dotted(path + ("optional",)), when)
        elif flag is not False:
            self.error(path + ("optional",), "'optional' must be true, false or a choice name")
        if not when and optional is None:
            return None
        return Cond(when, optional)

    def component(self, comp: Any, path: Path) -> Any:
        if isinstance(comp, dict) and comp and next(iter(comp)) in VALUE_MARKERS:
            return self.marker(comp, path, component_ctx=True)
        if not isinstance(comp, dict):
            return self.value(comp, path)
        cond = self.condition(comp, path)
        if cond is not None and cond.optional is not None:
            self.structural.append((cond.optional, (True,)))
        if self.ids and isinstance(comp.get("id"), str):
            self.ids[-1].add(comp["id"])
        items = [(k, self.stages(v, path + (k,)) if k == "stages" and comp.get("type") == "cascade" else self.value(v, path + (k,)))
                 for k, v in comp.items() if k not in ("optional", "when")]
        if cond is not None and cond.optional is not None:
            self.structural.pop()
        node: Any = TMap(items, path, component=True)
        return TCond(cond, node, path) if cond is not None else node

    def stages(self, value: Any, path: Path) -> Any:
        """A cascade's stages: each stage's ``layers`` is a list of layers like the pipeline's, so
        ``one_of``, ``repeat`` and optional layers work inside a stage too."""
        if not isinstance(value, list):
            return self.value(value, path)
        out = []
        for i, stage in enumerate(value):
            spath = path + (i,)
            if isinstance(stage, dict) and isinstance(stage.get("layers"), list) and not (stage and next(iter(stage)) in VALUE_MARKERS):
                out.append(TMap([(k, self.layers(v, spath + (k,)) if k == "layers" else self.value(v, spath + (k,)))
                                 for k, v in stage.items()], spath))
            else:
                out.append(self.value(stage, spath))
        return TList(out, path)

    # -------------------------------------------------------------- layers
    def layers(self, value: Any, path: Path) -> TLayers:
        if not isinstance(value, list):
            self.error(path, "the pipeline must be a list of layers")
            return TLayers([], path)
        return TLayers([self.layer(item, path + (i,)) for i, item in enumerate(value)], path)

    def layer(self, item: Any, path: Path) -> Any:
        if isinstance(item, list) and len(item) == 1 and isinstance(item[0], dict) and item[0] and next(iter(item[0])) in LAYER_MARKERS:
            return self.layer(item[0], path + (0,))
        if isinstance(item, list):
            return TLayer([self.component(c, path + (j,)) for j, c in enumerate(item)], path)
        if isinstance(item, dict) and item:
            first = next(iter(item))
            if first == "one_of":
                return self.one_of(item, path)
            if first == "repeat":
                return self.repeat(item, path)
            if first == "layer":
                self.check_keys(item, "layer", path)
                cond = self.condition(item, path)
                if cond is not None and cond.optional is not None:
                    self.structural.append((cond.optional, (True,)))
                inner = item["layer"]
                inner = inner if isinstance(inner, list) else [inner]
                comps = [self.component(c, path + ("layer", j)) for j, c in enumerate(inner)]
                if cond is not None and cond.optional is not None:
                    self.structural.pop()
                return TLayer(comps, path, cond)
            return TLayer([self.component(item, path)], path)  # a bare component (plain-dict input)
        self.error(path, "a layer is a component, a list of components, or a one_of/repeat/layer marker")
        return TLayer([], path)

    def one_of(self, item: dict[str, Any], path: Path) -> Any:
        self.check_keys(item, "one_of", path)
        alts = item["one_of"]
        if not isinstance(alts, list) or not alts:
            self.error(path + ("one_of",), "one_of needs a non-empty list of alternatives (each a list of layers; [] for nothing)")
            return TLayer([], path)
        labels = item.get("labels")
        if labels is not None and (not isinstance(labels, list) or len(labels) != len(alts) or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels)):
            self.error(path + ("labels",), "labels must be a list of distinct strings, one per alternative")
            labels = None
        when = self.parse_when(item.get("when"), path + ("when",))
        domain = Categorical(tuple(range(len(alts))), tuple(labels) if labels else None)
        choice = self.new_choice(item, "one_of", domain, path + ("one_of",), _dotted(path + ("one_of",)), when)
        parsed = []
        for i, alt in enumerate(alts):
            self.structural.append((choice, (domain.params()[i],)))
            if isinstance(alt, dict):
                alt = [alt]
            parsed.append(self.layers(alt, path + ("one_of", i)))
            self.structural.pop()
        return TOneOf(choice, parsed, path, Cond(when) if when else None)

    def repeat(self, item: dict[str, Any], path: Path) -> Any:
        self.check_keys(item, "repeat", path)
        when = self.parse_when(item.get("when"), path + ("when",))
        domain, count_marker = self.count_domain(item["repeat"], path + ("repeat",), "repeat count", 0, MAX_REPEAT)
        if "layers" not in item:
            self.error(path, "a repeat needs 'layers' (the layers to copy)", key=True)
            return TLayer([], path)
        block = TRepeat(None, None, None, path)
        if domain is None:
            return TLayer([], path)
        if is_int(domain):
            block.fixed = domain
        else:
            if count_marker is not None and "name" in count_marker and "name" in item:
                self.error(path + ("repeat", "name"), "name the repeat or its count, not both")
            named = item if "name" in item else (count_marker or {})
            block.choice = self.new_choice(named, "repeat", domain, path + ("repeat",), _dotted(path + ("repeat",)), when)
        if when:
            block.cond = Cond(when)
        self.chain.append(block)
        self.ids.append(set())
        block.body = self.layers(item["layers"], path + ("layers",))
        block.body_ids = frozenset(self.ids.pop())
        self.chain.pop()
        return block


def parse_template(doc: Any) -> Template:
    """Parse ``doc`` (a SpecDocument, or a plain dict) into a :class:`Template`; raise SpecError."""
    data = doc.data if hasattr(doc, "data") else doc
    parser = _Parser(doc)
    if not isinstance(data, dict):
        raise SpecError([Diagnostic(parser.file, 1, 1, "a space is a mapping with a 'space:' or 'pipeline:' section")])
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        if key == "constraints":
            parser.error(("constraints",), "'constraints:' is reserved and not implemented yet", "express the rule with 'when:' conditions", key=True)
            continue
        if key in ("pipeline", "space"):  # a SpecDocument has 'space' renamed already; a plain dict may not
            items.append(("pipeline", parser.layers(value, ("pipeline",))))
        else:
            items.append((key, parser.value(value, (key,))))
    if "pipeline" not in data and "space" not in data:
        parser.error((), "a space needs a 'space:' (or 'pipeline:') section")
    if parser.problems:
        raise SpecError(parser.problems)
    return Template(items, parser.choices, parser.file)


def _article(word: str) -> str:
    """'an' before a vowel sound ('an int range', 'a float range')."""
    return "an" if word[:1].lower() in "aeiou" else "a"
