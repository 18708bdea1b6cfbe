"""Component kinds at run time: one module per kind (``archon.components.<kind>``), each with an
async ``run(node, states, ctx)`` that sends every query's requests for the node together.

What a kind consumes, produces and costs is its entry in :data:`archon.graph.kinds.KINDS`; its
settings are its class in :mod:`archon.spec.schema`; its prompts are the files
``prompts/<kind>.*.txt``. See docs/components.md for each kind's behaviour and fallbacks.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from archon.components.base import NodeContext, input_candidates
from archon.components.parsing import default_extract
from archon.components.prompting import MAIN_PROMPT, PROMPT_NAMES, PromptBook
from archon.graph.kinds import KINDS

__all__ = [
    "COMPONENTS",
    "MAIN_PROMPT",
    "PROMPT_NAMES",
    "NodeContext",
    "PromptBook",
    "default_extract",
    "input_candidates",
]

#: kind -> the module that runs it. Found by name from the kind table, so a new kind needs no
#: entry here; tests/test_kinds.py checks every kind has its module and every module its kind.
COMPONENTS: dict[str, ModuleType] = {name: importlib.import_module(f"archon.components.{name}") for name in KINDS}
