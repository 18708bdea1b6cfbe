"""One description per component kind and per backend kind: the places that must name the same
set do (a kind added to one and not the others fails here, not at run time)."""

from __future__ import annotations

import inspect
import typing

from archon.components import COMPONENTS, MAIN_PROMPT, PROMPT_NAMES
from archon.graph.kinds import KINDS, Kind
from archon.spec.schema import COMPONENT_TYPES, LOGPROB_BACKENDS, PROMPT_FIELDS, ModelSpec


def test_schema_kinds_and_component_modules_name_the_same_kinds() -> None:
    assert list(COMPONENT_TYPES) == list(KINDS) == list(COMPONENTS)
    for name, kind in KINDS.items():
        assert isinstance(kind, Kind) and kind.name == name
        assert COMPONENT_TYPES[name].model_fields["type"].default == name
        assert inspect.iscoroutinefunction(COMPONENTS[name].run), name


def test_every_kind_entry_is_complete() -> None:
    for name, kind in KINDS.items():
        assert kind.summary and kind.consumes, name
        assert set(kind.consumes) <= {"query", "candidates"} | {a for k in KINDS.values() for a in k.annotates}, name
        assert not (kind.creates and kind.annotates), f"{name}: a kind that creates candidates leaves them unannotated"
        for method in ("calls", "estimate"):
            assert getattr(type(kind), method) is not getattr(Kind, method), f"{name} does not define {method}"


def test_every_kind_with_prompts_ships_them() -> None:
    for name, cls in COMPONENT_TYPES.items():
        if cls.main_prompt is None:
            assert name not in PROMPT_FIELDS and not any(p.startswith(f"{name}.") for p in PROMPT_NAMES), name
            continue
        assert MAIN_PROMPT[name] == cls.main_prompt and cls.main_prompt in PROMPT_NAMES, name
        assert f"{name}.system" in PROMPT_NAMES and PROMPT_FIELDS[name], name


def test_backend_kinds_in_the_schema_and_the_registry_agree() -> None:
    from archon.backends.registry import BACKENDS

    kinds = typing.get_args(ModelSpec.model_fields["kind"].annotation)
    assert list(kinds) == list(BACKENDS)
    for name, entry in BACKENDS.items():
        assert entry.name == name and entry.summary and callable(entry.build)
    assert tuple(name for name, entry in BACKENDS.items() if entry.logprobs) == LOGPROB_BACKENDS
