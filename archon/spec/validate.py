"""Validation of a loaded spec into typed objects, with every problem mapped to its position.

Pydantic does the type checking (in strict mode: YAML already typed the values, so ``"5"`` is not
silently an integer and ``true`` is not silently ``1``); this module turns its errors into one-line
diagnostics a user can act on: the key or value at fault, what was expected, and a "did you mean"
drawn from the names that are valid *at that place*. Model references are checked here; graph rules
(inputs, cycles, composition rules) belong to the graph layer above: :func:`archon.graph.check_pipeline`
runs both, and :func:`archon.space.check_space` checks a space.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from archon.errors import Diagnostic, SpecError
from archon.spec.document import SpecDocument
from archon.spec.pyref import check_function_ref
from archon.spec.schema import COMPONENT_TYPES, LOCAL_MODEL_NAME, PROMPT_FIELDS, Settings, Spec
from archon.util import did_you_mean

__all__ = ["load_settings", "prompt_names", "schema_diagnostics"]

Loc = tuple[Any, ...]

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "literal_error": None,
}

_PATTERN_HINTS = {
    "api_key_env": (
        "must name an environment variable",
        "letters, digits and underscores, not starting with a digit; write the variable's name, never the key itself",
    ),
    "id": ("invalid node id", "letters, digits, '_', '.' and '-', starting with a letter or '_'"),
}


def _show(value: Any) -> str:
    """A short rendering of a YAML value for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ----------------------------------------------------------------------------- schema walking


def _strip(tp: Any) -> Any:
    """Unwrap Annotated and Optional until a model, a container or a scalar type remains."""
    while True:
        if get_origin(tp) is typing.Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _field_at(loc: Loc) -> tuple[type[BaseModel] | None, str | None, Any]:
    """For a pydantic loc: (model class holding the last field, field name, the type at loc)."""
    tp: Any = Spec
    owner: type[BaseModel] | None = None
    name: str | None = None
    for seg in loc:
        tp = _strip(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if seg not in tp.model_fields:
                return tp, seg if isinstance(seg, str) else None, None
            owner, name = tp, seg
            tp = tp.model_fields[seg].annotation
            continue
        origin = get_origin(tp)
        if origin is list:
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        elif origin in (Union, types.UnionType):
            if seg in COMPONENT_TYPES:
                tp = COMPONENT_TYPES[seg]
            else:
                return owner, name, None
        else:
            return owner, name, None
    return owner, name, tp


def _bounds(owner: type[BaseModel] | None, name: str | None) -> dict[str, Any]:
    """The numeric bounds (ge/gt/le/lt) declared on a field, wherever pydantic keeps them."""
    if owner is None or name is None or name not in owner.model_fields:
        return {}
    found: dict[str, Any] = {}

    def visit(meta: typing.Iterable[Any]) -> None:
        for item in meta:
            for attr in ("ge", "gt", "le", "lt"):
                value = getattr(item, attr, None)
                if value is not None and attr not in found:
                    found[attr] = value
            if hasattr(item, "metadata") and isinstance(item.metadata, list):
                visit(item.metadata)

    def walk(tp: Any) -> None:
        if get_origin(tp) is typing.Annotated:
            visit(tp.__metadata__)
            walk(get_args(tp)[0])
        elif get_origin(tp) in (Union, types.UnionType):
            for arg in get_args(tp):
                walk(arg)

    field = owner.model_fields[name]
    visit(field.metadata)
    walk(field.annotation)
    return found


def _fmt_num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _range_text(name: str, bounds: dict[str, Any]) -> str:
    if not ("le" in bounds or "lt" in bounds):
        return f"allowed: {name} >= {_fmt_num(bounds['ge'])}" if "ge" in bounds else f"allowed: {name} > {_fmt_num(bounds.get('gt'))}"
    low = f"{_fmt_num(bounds['ge'])} <= " if "ge" in bounds else f"{_fmt_num(bounds['gt'])} < " if "gt" in bounds else ""
    high = f" <= {_fmt_num(bounds['le'])}" if "le" in bounds else f" < {_fmt_num(bounds['lt'])}" if "lt" in bounds else ""
    return f"allowed: {low}{name}{high}"


def _where(owner: type[BaseModel] | None, path: Loc) -> str:
    """How to name the mapping an unknown/missing key sits in."""
    if owner is None or owner is Spec or not path:
        return "at the top level"
    if path[0] == "pipeline" and owner in COMPONENT_TYPES.values() and isinstance(path[-1], int):
        return f"in a {owner.model_fields['type'].default} component"
    if path[0] == "models" and len(path) == 2:
        return f"in model '{path[1]}'"
    return "in '" + ".".join(str(p) for p in path) + "'"


# ----------------------------------------------------------------------------- pydantic -> diagnostics


def _doc_path(loc: Loc, data: Any) -> Loc:
    """Map a pydantic loc onto a path in the document: drop 'layers' and union tags."""
    parts = list(loc)
    if parts[:2] == ["pipeline", "layers"]:
        del parts[1]
        if len(parts) > 3 and parts[3] in COMPONENT_TYPES:
            del parts[3]
    out: list[Any] = []
    current = data
    for seg in parts:
        if isinstance(current, dict) and seg in current:
            out.append(seg)
            current = current[seg]
        elif isinstance(current, list) and isinstance(seg, int) and 0 <= seg < len(current):
            out.append(seg)
            current = current[seg]
        elif isinstance(current, dict) and isinstance(seg, str) and seg not in COMPONENT_TYPES and seg not in ("bool", "str", "int", "float"):
            out.append(seg)  # a missing key: keep it, locate() falls back to the mapping
            current = None
        # anything else is a union member tag pydantic adds: skip it
    return tuple(out)


def _literal_options(owner: type[BaseModel] | None, name: str | None, ctx: dict[str, Any]) -> list[str]:
    if owner is not None and name in owner.model_fields:
        tp = _strip(owner.model_fields[name].annotation)
        if get_origin(tp) is list:
            tp = _strip(get_args(tp)[0])
        if get_origin(tp) is Literal:
            return [str(a) for a in get_args(tp)]
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def _label(name: str | None, path: Loc) -> str:
    """How a message names the value: its field, or ``field.key`` for an entry of a mapping."""
    if name is None:
        return str(path[-1]) if path else "value"
    if path and path[-1] != name and name in path and isinstance(path[-1], str):
        return ".".join(str(p) for p in path[path.index(name):])
    return name


def _one(error: ErrorDetails, doc: SpecDocument) -> Diagnostic | None:
    kind = error["type"]
    loc: Loc = tuple(error["loc"])
    path = _doc_path(loc, doc.data)
    owner, name, _ = _field_at(loc)
    value = error.get("input")
    ctx = error.get("ctx") or {}
    label = _label(name, path)

    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = sorted(owner.model_fields) if owner is not None else []
        if owner is not None and owner in COMPONENT_TYPES.values():
            allowed = [a for a in allowed if a != "type"]
        guess = did_you_mean(key, allowed)
        hint = f"did you mean '{guess}'?" if guess else f"allowed keys: {', '.join(allowed)}"
        return doc.diagnostic(path, f"unknown key {_show(key)} {_where(owner, path[:-1])}", hint, key=True)
    if kind == "missing":
        options = _literal_options(owner, name, ctx)
        return doc.diagnostic(path[:-1], f"missing required key '{label}' {_where(owner, path[:-1])}",
                              f"one of: {', '.join(options)}" if options else None)
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        guess = did_you_mean(tag, COMPONENT_TYPES)
        hint = f"did you mean '{guess}'?" if guess else f"one of: {', '.join(COMPONENT_TYPES)}"
        raw = _get(doc.data, path)
        shown = _show(raw.get("type")) if isinstance(raw, dict) else repr(tag)
        return doc.diagnostic(path + ("type",), f"unknown component type {shown}", hint)
    if kind == "union_tag_not_found":
        return doc.diagnostic(path, "component has no 'type'", f"one of: {', '.join(COMPONENT_TYPES)}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounds = _bounds(owner, name) or dict(ctx)
        return doc.diagnostic(path, f"{label} {_show(value)} is out of range", _range_text(label, bounds))
    if kind == "literal_error":
        options = _literal_options(owner, name, ctx)
        guess = did_you_mean(value, options)
        hint = f"expected one of: {', '.join(options)}"
        if guess:
            hint = f"did you mean '{guess}'? {hint}"
        return doc.diagnostic(path, f"invalid value {_show(value)} for '{label}'", hint)
    if kind == "string_pattern_mismatch":
        if label in _PATTERN_HINTS:
            what, hint = _PATTERN_HINTS[label]
            if label == "api_key_env":  # never echo what may be a secret
                return doc.diagnostic(path, f"'api_key_env' {what}", hint)
            return doc.diagnostic(path, f"{what} {_show(value)}", hint)
        return doc.diagnostic(path, f"invalid value {_show(value)} for '{label}'", f"must match {ctx.get('pattern')}")
    if kind in ("too_short", "string_too_short"):
        if path == ("pipeline",):
            return doc.diagnostic(path, "the pipeline has no layers", "add at least one layer, e.g. '- {type: generate}'")
        need = ctx.get("min_length", 1)
        noun = "character" if kind == "string_too_short" else "item"
        return doc.diagnostic(path, f"'{label}' must have at least {need} {noun}{'s' if need != 1 else ''}")
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
        quoted = re.match(r"'([^']+)'", message)
        if quoted and path + (quoted.group(1),) in doc.key_positions:
            return doc.diagnostic(path + (quoted.group(1),), message, key=True)
        return doc.diagnostic(path, message)
    if kind in _TYPE_WORDS:
        if _component_position(path) and kind in ("model_attributes_type", "model_type", "dict_type"):
            return doc.diagnostic(path, f"expected a component mapping, got {_show(value)}", "write e.g. {type: generate}")
        if path == ("pipeline",) and kind == "list_type":
            return doc.diagnostic(path, f"'pipeline' must be a list of layers, got {_show(value)}", "write each layer as a '- ' item")
        if _component_position(path + (0,)) and kind == "list_type":
            return doc.diagnostic(path, f"expected a layer (a component or a list of components), got {_show(value)}")
        return doc.diagnostic(path, f"expected {_TYPE_WORDS[kind]} for '{label}', got {_show(value)}")
    return doc.diagnostic(path, f"invalid value for '{label}': {error['msg']}")


def _component_position(path: Loc) -> bool:
    """Whether ``path`` is where a component goes: ``pipeline.<layer>.<i>``, or the same inside
    a cascade stage's ``layers``."""
    return (len(path) >= 3 and path[0] == "pipeline" and isinstance(path[-1], int) and isinstance(path[-2], int)
            and path[-3] in ("pipeline", "layers"))


def _get(data: Any, path: Loc) -> Any:
    for seg in path:
        try:
            data = data[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _merge_union(errors: list[ErrorDetails], doc: SpecDocument) -> list[Diagnostic]:
    """Union members each report a type error at the same place; say it once."""
    out: list[Diagnostic] = []
    grouped: dict[Loc, list[ErrorDetails]] = {}
    order: list[Loc] = []
    for error in errors:
        path = _doc_path(tuple(error["loc"]), doc.data)
        if path not in grouped:
            order.append(path)
        grouped.setdefault(path, []).append(error)
    for path in order:
        group = grouped[path]
        kinds = [e["type"] for e in group]
        if len(group) > 1 and all(k in _TYPE_WORDS and _TYPE_WORDS[k] for k in kinds):
            words = list(dict.fromkeys(str(_TYPE_WORDS[k]) for k in kinds))  # all set: checked above
            label = str(path[-1]) if path else "value"
            out.append(doc.diagnostic(path, f"expected {', or '.join(words)} for '{label}', got {_show(group[0].get('input'))}"))
            continue
        for error in group:
            diag = _one(error, doc)
            if diag is not None:
                out.append(diag)
    return out


# ----------------------------------------------------------------------------- checks beyond pydantic


def _components(data: dict[str, Any]) -> typing.Iterator[tuple[Loc, dict[str, Any]]]:
    yield from _layer_components(data.get("pipeline"), ("pipeline",))


def _layer_components(layers: Any, path: Loc) -> typing.Iterator[tuple[Loc, dict[str, Any]]]:
    """Every component mapping of ``layers`` with its path, those in cascade stages included."""
    if not isinstance(layers, list):
        return
    for i, layer in enumerate(layers):
        if isinstance(layer, list):
            for j, component in enumerate(layer):
                if isinstance(component, dict):
                    yield path + (i, j), component
                    stages = component.get("stages") if component.get("type") == "cascade" else None
                    if isinstance(stages, list):
                        for s, stage in enumerate(stages):
                            if isinstance(stage, dict):
                                yield from _layer_components(stage.get("layers"), path + (i, j, "stages", s, "layers"))


def prompt_names() -> list[str]:
    """Names a spec's ``prompts:`` may override: the shipped templates (read from the package
    data folder without importing the components layer)."""
    folder = Path(__file__).resolve().parent.parent / "components" / "prompts"
    return sorted(p.stem for p in folder.glob("*.txt"))


def _reference_diagnostics(doc: SpecDocument) -> list[Diagnostic]:
    """Every check of names and references (on the raw data): the pipeline's and the rest's."""
    return _pipeline_references(doc) + _settings_references(doc)


def _pipeline_references(doc: SpecDocument) -> list[Diagnostic]:
    """In the pipeline: undefined model names, misspelt prompt placeholders, empty layers."""
    data = doc.data
    models = data.get("models")
    defined = [LOCAL_MODEL_NAME] + ([str(k) for k in models] if isinstance(models, dict) else [])
    out: list[Diagnostic] = []

    def check(name: Any, path: Loc) -> None:
        if not isinstance(name, str) or name in defined:
            return
        guess = did_you_mean(name, defined)
        if guess:
            hint = f"did you mean '{guess}'?"
        else:
            names = [d for d in defined if d != LOCAL_MODEL_NAME]
            hint = (f"defined models: {', '.join(names)}; " if names else "no 'models:' section; ") + f"'{LOCAL_MODEL_NAME}' is always available"
        out.append(doc.diagnostic(path, f"undefined model {_show(name)}", hint))

    for path, component in _components(data):
        check(component.get("model"), path + ("model",))
        if isinstance(component.get("models"), list):
            for k, name in enumerate(component["models"]):
                check(name, path + ("models", k))
    for path, component in _components(data):
        fields = PROMPT_FIELDS.get(str(component.get("type")))
        for key in ("system_prompt", "prompt_template"):
            if fields is not None and isinstance(component.get(key), str):
                out.extend(_placeholder_typos(doc, path + (key,), component[key], fields, f"a {component['type']} prompt"))
    for path, layers in _layer_lists(data):
        for i, layer in enumerate(layers):
            if layer == []:
                out.append(doc.diagnostic(path + (i,), "empty layer", "a layer holds at least one component; remove it"))
    out.extend(_task_diagnostics(doc))
    return out


def _layer_lists(data: dict[str, Any]) -> list[tuple[Loc, list[Any]]]:
    """The pipeline's list of layers and every cascade stage's, with their paths."""
    out: list[tuple[Loc, list[Any]]] = []
    if isinstance(data.get("pipeline"), list):
        out.append((("pipeline",), data["pipeline"]))
    for path, component in _components(data):
        stages = component.get("stages") if component.get("type") == "cascade" else None
        if isinstance(stages, list):
            for s, stage in enumerate(stages):
                if isinstance(stage, dict) and isinstance(stage.get("layers"), list):
                    out.append((path + ("stages", s, "layers"), stage["layers"]))
    return out


def _settings_references(doc: SpecDocument) -> list[Diagnostic]:
    """Outside the pipeline: unknown prompt names and their placeholders, the scorer reference."""
    data = doc.data
    out: list[Diagnostic] = []
    prompts = data.get("prompts")
    known_prompts = prompt_names()
    if isinstance(prompts, dict) and known_prompts:
        for name in prompts:
            if name not in known_prompts:
                guess = did_you_mean(name, known_prompts)
                hint = f"did you mean '{guess}'?" if guess else f"prompt names: {', '.join(known_prompts)}"
                out.append(doc.diagnostic(("prompts", name), f"unknown prompt name {_show(name)}", hint, key=True))
    if isinstance(prompts, dict):
        for name, text in prompts.items():
            fields = PROMPT_FIELDS.get(str(name).split(".")[0])
            if fields is not None and isinstance(text, str):
                out.extend(_placeholder_typos(doc, ("prompts", name), text, fields, f"prompt {name!r}"))
    bench = data.get("benchmark")
    scorer = bench.get("scorer") if isinstance(bench, dict) else None
    if isinstance(scorer, str) and ":" in scorer:
        problem = check_function_ref(scorer, tuple(sys.path))
        if problem:
            out.append(doc.diagnostic(("benchmark", "scorer"), f"scorer {_show(scorer)}: {problem}"))
    return out


def _task_diagnostics(doc: SpecDocument) -> list[Diagnostic]:
    """With a ``task:`` section the runtime takes few-shot examples from it alone: a few-shot
    generator with no examples there would silently run zero-shot."""
    task = doc.data.get("task")
    if not isinstance(task, dict) or task.get("shots"):
        return []
    out = []
    for path, component in _components(doc.data):
        shots = component.get("few_shot")
        if component.get("type") == "generate" and isinstance(shots, int) and not isinstance(shots, bool) and shots > 0:
            out.append(doc.diagnostic(path + ("few_shot",), f"few_shot: {shots}, but 'task.shots' holds no examples",
                                      "add solved examples under task.shots ({input: .., reference: ..}), or set few_shot: 0"))
    return out


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _placeholder_typos(doc: SpecDocument, path: Loc, text: str, fields: frozenset[str], what: str) -> list[Diagnostic]:
    """A ``{name}`` close to a field the prompt gets, but not one: almost surely a typo, which
    would otherwise reach the model verbatim. Other braces (JSON, code) are left alone."""
    out = []
    for name in dict.fromkeys(_PLACEHOLDER.findall(text)):
        guess = None if name in fields else did_you_mean(name, sorted(fields))
        if guess:
            known = ", ".join("{" + f + "}" for f in sorted(fields))
            out.append(doc.diagnostic(path, f"unknown placeholder {{{name}}} in {what} (it gets {known})",
                                      f"did you mean {{{guess}}}?"))
    return out


def schema_diagnostics(doc: SpecDocument) -> tuple[Spec | None, list[Diagnostic]]:
    """Validate ``doc`` (a resolved pipeline) against the schema; return the Spec or the problems."""
    data = dict(doc.data)
    if "pipeline" in data:
        data["pipeline"] = {"layers": data["pipeline"]}
    diagnostics = _reference_diagnostics(doc)
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(data, strict=True)
    except ValidationError as exc:
        diagnostics.extend(_merge_union(exc.errors(include_url=False), doc))
    return (spec if not diagnostics else None), diagnostics


def load_settings(doc: SpecDocument) -> Settings:
    """The typed sections of a spec or a space other than its pipeline (models, benchmark,
    budget, search, prompts, cache), checked as in a whole spec; raise SpecError with every
    problem at its ``file:line:column``. The pipeline (or space) is not looked at."""
    data = {key: value for key, value in doc.data.items() if key != "pipeline"}
    diagnostics = _settings_references(doc)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data, strict=True)
    except ValidationError as exc:
        diagnostics.extend(_merge_union(exc.errors(include_url=False), doc))
    if settings is None or diagnostics:
        raise SpecError(diagnostics)
    return settings
