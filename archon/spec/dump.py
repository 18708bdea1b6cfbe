"""Writing a resolved :class:`Spec` back as YAML a person would have written.

Used for ``best.yaml`` and ``archon space --sample``: the output must load back into an equal
Spec (``validate(load(dump(spec))) == spec``), leave out settings that equal their defaults, keep
the layered shape (a one-component layer is written as a bare component), and put each component
on one line when it is short.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel

from archon.spec.schema import Spec

__all__ = ["dump_yaml", "spec_to_data"]

#: Top-level sections in the order a spec is usually read.
#: The long texts (prompt templates, few-shot examples) come after the pipeline, so the
#: architecture stays near the top.
_ORDER = ("name", "description", "models", "benchmark", "budget", "search", "cache", "pipeline", "prompts", "task")
_FLOW_WIDTH = 100


_FIRST = ("id", "inputs", "model", "models")


def _layers_data(layers: list[list[BaseModel]], explicit: tuple[str, ...]) -> list[Any]:
    """Layers in the user's shape: a one-component layer as a bare component."""
    out = []
    for layer in layers:
        items = [_component_data(c, explicit) for c in layer]
        out.append(items[0] if len(items) == 1 else items)
    return out


def _component_data(component: BaseModel, explicit: tuple[str, ...] = ()) -> dict[str, Any]:
    """type, id, inputs and models first, then the component's own settings, then sampling.
    Fields named in ``explicit`` are written even when they equal their defaults."""
    if component.type == "cascade":  # type: ignore[attr-defined]  # every component schema class has a type
        data: dict[str, Any] = {"type": "cascade"}
        for name in ("id", "inputs"):
            if getattr(component, name) is not None:
                data[name] = getattr(component, name)
        data["stages"] = []
        for stage in component.stages:  # type: ignore[attr-defined]  # a cascade, by the test above
            entry: dict[str, Any] = {"layers": _layers_data(stage.layers, explicit)}
            entry.update(stage.model_dump(mode="python", exclude_defaults=True, exclude={"layers"}))
            data["stages"].append(entry)
        return data
    rest = component.model_dump(mode="python", exclude_defaults=True)
    for name in explicit:
        value = getattr(component, name, None)
        # a generator's ``model`` is unused when it lists ``models``
        if name not in rest and value is not None and not (name == "model" and getattr(component, "models", None)):
            rest[name] = value
    rest.pop("type", None)
    out: dict[str, Any] = {"type": component.type}  # type: ignore[attr-defined]  # as above
    own = [n for n in type(component).__annotations__ if n != "type"]
    for name in [*_FIRST, *own, *rest]:
        if name in rest and name not in out:
            out[name] = rest[name]
    return out


def spec_to_data(spec: Spec, *, explicit: tuple[str, ...] = ()) -> dict[str, Any]:
    """Plain data in the user's layered shape, defaults left out (``pipeline`` always kept).

    ``explicit`` names component fields written even at their defaults (exports pin ``id`` and
    the sampling settings, so a later release's defaults cannot change what they run)."""
    out: dict[str, Any] = {}
    for name in _ORDER:
        value = getattr(spec, name)
        if name == "pipeline":
            out["pipeline"] = _layers_data(value.layers, explicit)
            continue
        field = Spec.model_fields[name]
        if value == field.get_default(call_default_factory=True):
            continue
        if name == "task":
            # every field written: a reader of an export sees how its answers are read
            data = value.model_dump(mode="python", exclude_none=True)
            if not data["answer_options"]:
                del data["answer_options"]
            out[name] = data
        elif isinstance(value, BaseModel):
            data = value.model_dump(mode="python", exclude_defaults=True)
            if name == "benchmark" and list(data) == ["name"]:
                out[name] = data["name"]  # the shorthand `benchmark: capitals`
            else:
                out[name] = data
        elif isinstance(value, dict):
            out[name] = {
                key: item.model_dump(mode="python", exclude_defaults=True) if isinstance(item, BaseModel) else item
                for key, item in value.items()
            }
        else:
            out[name] = value
    if "models" in out:  # `kind` first reads better
        out["models"] = {k: {"kind": v.pop("kind"), **v} if isinstance(v, dict) and "kind" in v else v for k, v in out["models"].items()}
    return out


# ----------------------------------------------------------------------------- emitting


class _Flow(dict):
    """A mapping written on one line."""


class _FlowList(list):
    """A list written on one line."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes strings the YAML 1.2 core schema would read as non-strings."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$"), "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        "-+0123456789.",
    ),
):
    _Dumper.add_implicit_resolver(_tag, _regexp, list(_first))


_ODD_BREAKS = re.compile("[\r\x85\u2028\u2029\ufeff]")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # YAML folds NEL/LS/PS/CR into line breaks inside plain, single-quoted and block scalars:
    # only double quotes (with escapes) keep them exact.
    if _ODD_BREAKS.search(value):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str) and "\n" not in value)


def _flowable(value: Any) -> bool:
    if _is_scalar(value):
        return True
    if isinstance(value, list):
        return all(_is_scalar(v) for v in value)
    if isinstance(value, dict):
        return all(_is_scalar(v) or (isinstance(v, list) and all(_is_scalar(x) for x in v)) for v in value.values())
    return False


def _short(value: Any) -> bool:
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=10_000, allow_unicode=True)
    return len(text) <= _FLOW_WIDTH


def _style(value: Any) -> Any:
    """Mark small mappings and lists of scalars for one-line output."""
    if isinstance(value, dict):
        if value and _flowable(value) and _short(value):
            return _Flow({k: _FlowList(v) if isinstance(v, list) else v for k, v in value.items()})
        return {k: _style(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(_is_scalar(v) for v in value) and _short(value):
            return _FlowList(value)
        return [_style(v) for v in value]
    return value


def dump_yaml(spec: Spec, *, explicit: tuple[str, ...] = ()) -> str:
    """The YAML text of ``spec``; loading it back gives an equal Spec. ``explicit``: see
    :func:`spec_to_data`."""
    return yaml.dump(
        _style(spec_to_data(spec, explicit=explicit)),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
        indent=2,
    )
