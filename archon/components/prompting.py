"""Prompt templates: shipped as data files, overridable from the spec.

Why data files: prompts are the part of a component people tune most, and a diff of a ``.txt``
file is readable. Resolution order for a node's prompt, first match wins:

1. the node's own ``system_prompt`` / ``prompt_template`` (only for the node's system prompt and
   its *main* user prompt, see :data:`MAIN_PROMPT`);
2. the spec's top-level ``prompts:`` map (prompt name -> template);
3. the file ``archon/components/prompts/<name>.txt``.

Templates use ``{field}`` placeholders. Only known field names are substituted, so other braces
(JSON examples, code) pass through untouched and a template never raises on rendering.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from archon.errors import InputError, UsageError
from archon.spec.schema import COMPONENT_TYPES, PROMPT_FIELDS

__all__ = ["MAIN_PROMPT", "PROMPT_NAMES", "PromptBook", "render_template"]

#: The user prompt a node's ``prompt_template`` replaces, per component kind (declared on each
#: kind's settings class as ``main_prompt``).
MAIN_PROMPT: dict[str, str] = {name: cls.main_prompt for name, cls in COMPONENT_TYPES.items() if cls.main_prompt}

_FIELD = re.compile(r"\{([a-z_]+)\}")


@lru_cache(maxsize=1)
def _shipped() -> dict[str, str]:
    folder = resources.files("archon.components").joinpath("prompts")
    out: dict[str, str] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".txt"):
            out[entry.name[: -len(".txt")]] = entry.read_text(encoding="utf-8").rstrip("\n")
    return out


#: Every prompt name that can be overridden from a spec's ``prompts:`` map.
PROMPT_NAMES: tuple[str, ...] = tuple(sorted(_shipped()))


def render_template(template: str, fields: Mapping[str, Any]) -> str:
    """Substitute ``{name}`` for each known field; leave every other brace alone."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(fields[name]) if name in fields else match.group(0)

    return _FIELD.sub(sub, template)


class PromptBook:
    """The templates in force for one pipeline (shipped files + the spec's overrides)."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(PROMPT_NAMES))
        if unknown:
            raise InputError(
                f"error: unknown prompt name {unknown[0]!r} in 'prompts:' "
                f"(known names: {', '.join(PROMPT_NAMES)})"
            )
        self._overrides = overrides

    def template(self, name: str, node: Any = None, kind: str | None = None) -> str:
        """The template for ``name``, honouring the node's own overrides."""
        if node is not None and kind is not None:
            if name == f"{kind}.system" and getattr(node, "system_prompt", None) is not None:
                return str(node.system_prompt)
            if name == MAIN_PROMPT.get(kind) and getattr(node, "prompt_template", None) is not None:
                return str(node.prompt_template)
        if name in self._overrides:
            return self._overrides[name]
        try:
            return _shipped()[name]
        except KeyError:
            raise UsageError(f"no prompt named {name!r}") from None

    def render(self, name: str, fields: Mapping[str, Any], node: Any = None, kind: str | None = None) -> str:
        owner = kind or name.split(".")[0]
        # the table validation checks placeholders against must list every field passed here
        assert owner not in PROMPT_FIELDS or set(fields) <= PROMPT_FIELDS[owner], (name, sorted(fields))
        return render_template(self.template(name, node, kind), fields)
