"""What a drawing of a pipeline shows of each node besides its id and kind: its settings worth
showing. Shared by the text, Mermaid and DOT renderings (:mod:`archon.graph.render`) and the SVG
one (:mod:`archon.graph.svg`)."""

from __future__ import annotations

from typing import Any

__all__ = ["settings"]


def settings(component: Any) -> list[tuple[str, Any]]:
    """The settings worth showing: the model(s) and every field that differs from its default."""
    data = component.model_dump(exclude_defaults=True)
    out: list[tuple[str, Any]] = []
    if component.type == "generate":
        out.append(("models", component.model_list()) if component.models else ("model", component.model))
    elif hasattr(component, "model"):
        out.append(("model", component.model))
    for key, value in data.items():
        if key in ("type", "id", "inputs", "model", "models", "system_prompt", "prompt_template"):
            continue
        out.append((key, value))
    for key in ("system_prompt", "prompt_template"):
        if data.get(key):
            out.append((key, "(custom)"))
    return out
