"""Component kinds: one module per kind, each with a declared :class:`Contract`, a static
``calls(node, n_inputs)`` (model calls per query) and an async ``run(node, states, ctx)`` that
sends every query's requests for the node together.

See docs/components.md for what each kind consumes and produces, its prompts and its fallbacks.
"""

from __future__ import annotations

from types import ModuleType

from archon.components import critique, fuse, generate, rank, refine, select, unit_test, verify, vote
from archon.components.base import Contract, NodeContext, input_candidates
from archon.components.parsing import default_extract
from archon.components.prompting import MAIN_PROMPT, PROMPT_NAMES, PromptBook

__all__ = [
    "COMPONENTS",
    "MAIN_PROMPT",
    "PROMPT_NAMES",
    "Contract",
    "NodeContext",
    "PromptBook",
    "default_extract",
    "get_component",
    "input_candidates",
]

#: kind -> module (each has CONTRACT, calls, run).
COMPONENTS: dict[str, ModuleType] = {
    "generate": generate,
    "critique": critique,
    "rank": rank,
    "fuse": fuse,
    "verify": verify,
    "unit_test": unit_test,
    "vote": vote,
    "refine": refine,
    "select": select,
}


def get_component(kind: str) -> ModuleType:
    try:
        return COMPONENTS[kind]
    except KeyError:
        raise KeyError(f"unknown component kind {kind!r} (known: {', '.join(COMPONENTS)})") from None
